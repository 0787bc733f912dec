"""The training recipe (issue #16): input normalisation, validation split, best checkpoint, early
stopping, warm-up/cosine schedule, zero-initialised residuals, the ANN twin, and unchanged old hashes."""

import hashlib
import json
import math

import pytest
import torch
from torch import nn

from avsnn.core.lif import LIF
from avsnn.data.batching import ArrayData, validation_split
from avsnn.metrics import angular_concentration, run_model
from avsnn.models import BandNorm, ImageNorm, InputNorm, ModelOutput, ann_twin
from avsnn.studies import Arm, margin_curves
from avsnn.train import build_model, split_validation, train_or_load
from avsnn.train.config import COSMETIC, RECIPE_OFF, RunConfig
from avsnn.train.fit import has_learned, lr_factor, should_stop, still_rising
from avsnn.train.profiles import make_config

# Hashes printed by the code before the recipe fields existed (commit 30b1512): they must not move.
OLD_HASHES = {
    ("vision", "smoke"): "cce564f1b706",
    ("vision", "paper"): "4b547aacf4ba",
    ("audio", "smoke"): "36944506cff4",
    ("fusion", "smoke"): "03e60a45c0e1",
}


# ---- hashes ----------------------------------------------------------------------------------------
# The smoke profile's settings before it became a learning profile (#17): same settings, same hash.
OLD_SMOKE = {
    "vision": {
        "width": 4,
        "timesteps": 2,
        "per_class": 24,
        "epochs": 1,
        "lr": 1e-3,
        "threshold": 1.0,
        "beta": 0.9,
        "input_norm": False,
        "zero_init_residual": False,
        "warmup_epochs": 0,
    },
    "audio": {
        "timesteps": 2,
        "per_class": 24,
        "epochs": 1,
        "lr": 1e-3,
        "input_norm": False,
        "warmup_epochs": 0,
        "spectrogram_norm": "dataset",
        "head_threshold": None,
        "truncate_targets": False,
    },
    "fusion": {
        "timesteps": 2,
        "per_class": 24,
        "epochs": 1,
        "lr": 1e-3,
        "vision.width": 4,
        "vision.timesteps": 2,
        "vision.epochs": 1,
        "vision.lr": 1e-3,
        "vision.threshold": 1.0,
        "vision.beta": 0.9,
        "vision.input_norm": False,
        "vision.zero_init_residual": False,
        "vision.warmup_epochs": 0,
        "audio.timesteps": 2,
        "audio.epochs": 1,
        "audio.lr": 1e-3,
        "audio.input_norm": False,
        "audio.warmup_epochs": 0,
        "audio.spectrogram_norm": "dataset",
        "audio.head_threshold": None,
        "audio.truncate_targets": False,
    },
}


@pytest.mark.parametrize("modality,profile", sorted(OLD_HASHES))
def test_old_style_config_hashes_unchanged(modality, profile):
    from fixtures import hash_as_embedded  # the synthetic set's first name

    over = OLD_SMOKE[modality] if profile == "smoke" else {}
    assert hash_as_embedded(make_config(modality, profile, overrides=over)) == OLD_HASHES[(modality, profile)]


def test_canonical_drops_recipe_fields_only_while_off():
    cfg = RunConfig()
    old_keys = {k: v for k, v in cfg.to_dict().items() if k not in COSMETIC and k not in RECIPE_OFF}
    text = json.dumps(old_keys, sort_keys=True, separators=(",", ":"))
    assert cfg.hash() == hashlib.sha256(text.encode()).hexdigest()[:12]
    from fixtures import hash_as_embedded  # the synthetic set's first name

    assert hash_as_embedded(cfg) == "4b547aacf4ba"
    on = {
        "input_norm": True,
        "zero_init_residual": True,
        "neuron": "relu",
        "val_frac": 0.1,
        "patience": 3,
        "warmup_epochs": 1,
        "schedule": "cosine",
        "image_norm": "image",
        "image_size": 32,
        "spectrogram_norm": "clip",
        "head_threshold": 0.5,
        "min_steps": 376,
        "rising_extension": 2.0,
        "time_shift": 0.25,
        "learn_beta": True,
        "learn_threshold": True,
        "pool_grad": "or",
        "loss": "count+cosine_ce",
    }
    assert set(on) == set(RECIPE_OFF)
    for key, value in on.items():
        validated = key in ("patience", "rising_extension")
        changed = cfg.replace(**({key: value, "val_frac": 0.1} if validated else {key: value}))
        assert key in changed.canonical() and changed.hash() != cfg.hash(), key


@pytest.mark.parametrize(
    "override,message",
    [
        ("patience=3", "patience"),
        ("val_frac=1.0", "val_frac"),
        ("schedule=linear", "schedule"),
        ("neuron=tanh", "neuron"),
        ("warmup_epochs=-1", "warmup_epochs"),
        ("image_norm=channel", "image_norm"),
        ("spectrogram_norm=frame", "spectrogram_norm"),
        ("head_threshold=0", "head_threshold"),
    ],
)
def test_bad_recipe_values_name_the_field(override, message):
    with pytest.raises(ValueError, match=message):
        make_config("vision", "smoke", overrides=[override])


# ---- validation split ----------------------------------------------------------------------------
def test_validation_split_is_stratified_disjoint_and_seeded():
    labels = torch.tensor([0] * 10 + [1] * 20 + [2] * 5)
    fit, val = validation_split(labels, 0.2, seed=3)
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(len(labels)))
    assert torch.bincount(labels[val]).tolist() == [2, 4, 1]
    again, _ = validation_split(labels, 0.2, seed=3)
    other, _ = validation_split(labels, 0.2, seed=4)
    assert torch.equal(fit, again) and not torch.equal(fit, other)


# ---- a tiny controllable model for the engine tests -------------------------------------------------
class Tiny(nn.Module):
    """Linear logits on the flattened input; ``broken=True`` makes every logit 0 (ties: class 0 wins)."""

    def __init__(self, d, classes):
        super().__init__()
        self.fc = nn.Linear(d, classes)
        self.broken = False

    def forward(self, x):
        cur = self.fc(x.flatten(1)) * (0.0 if self.broken else 1.0)
        cur = cur.unsqueeze(0).expand(2, *cur.shape)
        return ModelOutput(spikes=torch.relu(cur), features=cur, z_av=cur[0], current=cur)


def _separable(n_per_class=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.randn(len(y), 1, 2, 2, generator=g) * 0.1 + y.view(-1, 1, 1, 1).float() * torch.tensor(
        [1.0, -1.0, 0.5, 2.0]
    ).view(1, 1, 2, 2)
    return ArrayData(x, y)


def _engine_cfg(**kw):
    base = dict(
        modality="vision",
        neuron="relu",
        head="fc",
        width=1,
        timesteps=2,
        batch_size=8,
        lr=0.1,
        weight_decay=0.0,
        milestones=(),
        progress=False,
        val_frac=0.25,
    )
    return RunConfig(**{**base, **kw})


def _break_after(epoch_no):
    def hook(epoch, model):
        if epoch >= epoch_no:
            model.broken = True

    return hook


def test_kept_checkpoint_is_the_best_validation_one(tmp_path):
    data = _separable()
    cfg = _engine_cfg(epochs=5)
    run = train_or_load(
        cfg,
        tmp_path,
        model_fn=lambda c, n, d: Tiny(4, n),
        data_fn=lambda c: (data, data),
        on_epoch_end=_break_after(2),
        verbose=False,
    )
    val_acc = [h["val_accuracy"] for h in run.history]
    best = max(range(len(val_acc)), key=lambda i: (val_acc[i], -i)) + 1
    assert len(val_acc) == 5 and best <= 2 and max(val_acc) > val_acc[-1]
    assert run.metrics["best_epoch"] == best and run.metrics["val_accuracy"] == val_acc[best - 1]
    _, val = split_validation(cfg, data)
    loaded = train_or_load(cfg, tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (data, data))
    assert not loaded.trained_now
    pred = loaded.model(val.batch(torch.arange(len(val)))[0]).current.mean(0).argmax(1)
    assert float((pred == val.labels).float().mean()) == pytest.approx(val_acc[best - 1])


def test_early_stopping_stops_after_patience(tmp_path):
    data = _separable()
    run = train_or_load(
        _engine_cfg(epochs=30, patience=2),
        tmp_path,
        model_fn=lambda c, n, d: Tiny(4, n),
        data_fn=lambda c: (data, data),
        on_epoch_end=_break_after(2),
        verbose=False,
    )
    assert len(run.history) == run.metrics["best_epoch"] + 2 < 30


def test_under_a_step_budget_patience_is_counted_in_optimizer_steps(tmp_path):
    from avsnn.train.fit import patience_epochs

    cfg = _engine_cfg(epochs=30, patience=2, min_steps=240)  # patience: 2 / 30 of 240 steps = 16 steps
    assert patience_epochs(cfg, 27) == 4  # batches of 8: 4 steps an epoch
    assert patience_epochs(cfg, 128) == 2 and patience_epochs(cfg, 1000) == 2  # never fewer than cfg.patience
    assert (
        patience_epochs(cfg.replace(min_steps=None), 27) == 2
        and patience_epochs(cfg.replace(patience=None), 27) is None
    )
    plateau = _curve(0.5, 0.4, 0.4, 0.4, 0.4)
    assert should_stop(cfg, plateau[:3], 10) and not should_stop(cfg, plateau[:4], 10, patience=4)
    assert should_stop(cfg, plateau, 10, patience=4)
    data = _separable()
    run = train_or_load(
        cfg,
        tmp_path,
        model_fn=lambda c, n, d: Tiny(4, n),
        data_fn=lambda c: (data, data),
        on_epoch_end=_break_after(2),
        verbose=False,
    )
    assert run.metrics["fit_samples"] == 27 and len(run.history) == run.metrics["best_epoch"] + 4


def test_the_default_audio_patience_is_three_epochs_on_av_digits_and_longer_on_small_sets():
    from avsnn.train.fit import patience_epochs

    for profile in ("default", "gpu"):
        cfg = make_config("audio", profile, "avdigits")
        assert cfg.patience == 3 and patience_epochs(cfg, 1069) == 3  # 34 steps an epoch, as the budget assumes
        assert patience_epochs(cfg, 476) == 7  # 15 steps an epoch: ceil(3 x 272 / 8 / 15)
    assert patience_epochs(make_config("vision", "default").replace(min_steps=None), 476) == 3  # no budget: epochs


def _curve(*val):
    return [{"epoch": e + 1, "val_accuracy": v} for e, v in enumerate(val)]


def test_early_stopping_waits_until_the_run_has_learned():
    cfg = _engine_cfg(epochs=30, patience=3)
    flat = _curve(0.10, 0.12, 0.11, 0.10, 0.12, 0.11, 0.09, 0.12)  # 10 classes: chance, no learning yet
    assert not has_learned(0.18, 10) and has_learned(0.19, 10) and has_learned(0.28, 5) and not has_learned(0.27, 5)
    assert not any(should_stop(cfg, flat[:n], 10) for n in range(1, len(flat) + 1))
    late = _curve(0.10, 0.11, 0.10, 0.10, 0.35, 0.34, 0.30, 0.33)  # learns at epoch 5, then 3 epochs without gain
    assert [should_stop(cfg, late[:n], 10) for n in range(4, 9)] == [False, False, False, False, True]
    assert should_stop(cfg, _curve(0.5, 0.4, 0.4, 0.4), 10)  # learned at once: the usual patience
    assert not should_stop(cfg.replace(patience=None), late, 10)


def test_a_run_at_its_cap_with_validation_still_rising_is_flagged():
    cfg = _engine_cfg(epochs=4, patience=3)
    assert still_rising(cfg, _curve(0.2, 0.3, 0.4, 0.5))
    assert not still_rising(cfg, _curve(0.2, 0.3, 0.5, 0.5))  # best (earliest) before the last epoch
    assert not still_rising(cfg, _curve(0.2, 0.3, 0.4))  # stopped before the cap
    assert not still_rising(cfg, [{"epoch": e, "loss": 1.0} for e in range(1, 5)])  # not validated


def test_min_steps_raises_the_epoch_cap_of_a_small_training_set(tmp_path):
    from avsnn.train.fit import epoch_cap, steps_per_epoch

    cfg = _engine_cfg(epochs=2, min_steps=13)  # 27 fit samples, batches of 8: 4 steps an epoch
    assert steps_per_epoch(cfg, 27) == 4 and epoch_cap(cfg, 27) == 4  # ceil(13 / 4)
    assert epoch_cap(cfg, 200) == 2 and epoch_cap(cfg.replace(min_steps=None), 27) == 2  # the cap never falls
    assert epoch_cap(cfg.replace(max_train_batches=1), 27) == 13
    run = train_or_load(cfg, tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (_separable(),) * 2)
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4] and run.metrics["fit_samples"] == 27
    cosine = cfg.replace(schedule="cosine", warmup_epochs=1)
    assert lr_factor(cosine, 4, epoch_cap(cosine, 27))(15) == pytest.approx(0.5 * (1 + math.cos(math.pi * 11 / 12)))
    assert still_rising(cfg, _curve(0.2, 0.3, 0.4, 0.5), cap=4) and not still_rising(cfg, _curve(0.2, 0.3), cap=4)
    with pytest.raises(ValueError, match="min_steps"):
        _engine_cfg(min_steps=0)


def test_a_run_still_rising_at_its_cap_goes_on_while_it_improves():
    from avsnn.train.fit import extension_cap, past_cap_stop

    cfg = _engine_cfg(epochs=4, patience=2, rising_extension=2.5)
    assert extension_cap(cfg, 27) == 10 and extension_cap(cfg.replace(rising_extension=None), 27) == 4
    assert extension_cap(cfg.replace(min_steps=13), 27) == 10  # 2.5 x the raised cap of 4
    assert past_cap_stop(cfg, _curve(0.2, 0.5, 0.4, 0.4), cap=4)  # not rising at the cap: stops there
    assert not past_cap_stop(cfg, _curve(0.2, 0.3, 0.4, 0.5), cap=4)  # best in the cap's epoch: goes on
    assert not past_cap_stop(cfg, _curve(0.2, 0.3, 0.4, 0.5, 0.6, 0.6), cap=4)  # a gain within the patience
    assert past_cap_stop(cfg, _curve(0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.5), cap=4)  # two epochs without one
    assert past_cap_stop(cfg.replace(patience=None), _curve(0.2, 0.3, 0.4, 0.5, 0.5), cap=4)  # no patience: 1
    for bad in (dict(rising_extension=0.5), dict(rising_extension=2.0, schedule="cosine"),
                dict(rising_extension=2.0, val_frac=0.0)):  # fmt: skip
        with pytest.raises(ValueError, match="rising_extension"):
            _engine_cfg(**bad)


def test_the_extension_trains_past_the_cap_and_flags_a_run_still_rising_at_its_end(tmp_path, monkeypatch):
    from avsnn.train import fit as fit_module

    curve = iter([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])

    def rising(self, rec, val, test):  # a validation accuracy that rises every epoch
        rec["val_accuracy"] = next(curve)
        if self.best is None or rec["val_accuracy"] > self.best["val_accuracy"]:
            self.best = {"epoch": rec["epoch"], "val_accuracy": rec["val_accuracy"], "model": self.model.state_dict()}

    monkeypatch.setattr(fit_module._Training, "evaluate", rising)
    cfg = _engine_cfg(epochs=2, patience=1, rising_extension=2.0)
    run = train_or_load(cfg, tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (_separable(),) * 2)
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4]  # twice the cap of 2, every epoch a gain
    assert run.metrics["best_epoch"] == 4 and run.metrics["still_rising"]


def test_the_default_audio_budget_keeps_av_digits_at_its_cap_and_lengthens_small_sets():
    from avsnn.train.fit import epoch_cap
    from avsnn.train.profiles import AUDIO_MIN_STEPS

    for profile in ("default", "gpu"):
        cfg = make_config("audio", profile, "avdigits")
        assert cfg.min_steps == AUDIO_MIN_STEPS and epoch_cap(cfg, 1069) == cfg.epochs == 8  # AV-Digits' fit part
        assert epoch_cap(cfg, 476) == 19  # 8 classes x 100 clips: 15 steps an epoch, ceil(272 / 15)
    assert make_config("audio", "smoke").min_steps is None and make_config("vision", "smoke").min_steps is None


def test_the_default_vision_budget_keeps_av_digits_at_its_cap_and_lengthens_small_sets():
    from avsnn.train.fit import epoch_cap, patience_epochs
    from avsnn.train.profiles import VISION_MIN_STEPS

    for profile, batches in (("default", 34), ("gpu", 9)):  # AV-Digits' 1,069 fitted pairs in batches of 32, 128
        cfg = make_config("vision", profile, "avdigits")
        assert cfg.min_steps == 12 * batches and epoch_cap(cfg, 1069) == cfg.epochs == 12
        assert patience_epochs(cfg, 1069) == cfg.patience == 3
    cfg = make_config("vision", "default")
    assert cfg.min_steps == VISION_MIN_STEPS and epoch_cap(cfg, 238) == 51  # 5 classes x 80: 8 steps an epoch
    assert patience_epochs(cfg, 238) == 13  # ceil(3 x 408 / 12 / 8)


def test_the_still_rising_flag_reaches_the_metrics_and_a_printed_line(tmp_path, capsys):
    data = _separable()

    def broken_at_first(c, n, d):
        m = Tiny(4, n)
        m.broken = True  # epoch 1 validates at chance (all ties: class 0)
        return m

    def mend(epoch, model):
        model.broken = False

    cfg = _engine_cfg(epochs=2, patience=3)
    run = train_or_load(
        cfg, tmp_path / "a", model_fn=broken_at_first, data_fn=lambda c: (data, data), on_epoch_end=mend
    )
    assert run.history[1]["val_accuracy"] > run.history[0]["val_accuracy"]
    assert run.metrics["still_rising"] is True
    assert "validation accuracy still rising at the epoch cap (2" in capsys.readouterr().err
    run = train_or_load(
        cfg,
        tmp_path / "b",
        model_fn=lambda c, n, d: Tiny(4, n),
        data_fn=lambda c: (data, data),
        on_epoch_end=_break_after(1),
    )
    assert run.metrics["still_rising"] is False and "still rising" not in capsys.readouterr().err


def test_every_epoch_records_the_validation_margin_and_margin_curves_reads_the_kept_one(tmp_path):
    data = _separable()
    cfg = _engine_cfg(epochs=4)
    _, val = split_validation(cfg, data)
    seen = []

    def hook(epoch, model):  # the model as evaluated at the end of this epoch, before it breaks
        seen.append(angular_concentration(run_model(model, val)["features"], val.labels)["margin"])
        _break_after(2)(epoch, model)

    run = train_or_load(
        cfg, tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (data, data), on_epoch_end=hook
    )
    assert not any(v.requires_grad for v in run_model(run.model, val).values() if v is not None)  # no graph kept
    margins = [h["val_margin"] for h in run.history]
    assert margins == pytest.approx(seen, abs=1e-9) and all("test_margin" not in h for h in run.history)
    assert margins[0] > 0.05 and margins[-1] == pytest.approx(0.0)  # broken: all features zero
    arm = Arm("tiny", "vision", [cfg], (0,), runs=[run])
    m = margin_curves(arm)
    assert m["split"] == "val" and m["curves"][0] == [(e + 1, x) for e, x in enumerate(margins)]
    assert m["first"] == [margins[0]] and m["kept"] == [margins[run.metrics["best_epoch"] - 1]]
    assert m["kept"] != [margins[-1]]


# ---- input normalisation ---------------------------------------------------------------------------
def test_input_norm_statistics_come_from_the_training_part_only(tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(6)
    train = ArrayData(torch.randint(0, 100, (24, 3, 8, 8), generator=g, dtype=torch.uint8), y)
    test = ArrayData(torch.full((8, 3, 8, 8), 255, dtype=torch.uint8), torch.arange(4).repeat(2))
    cfg = RunConfig(
        modality="vision",
        width=1,
        timesteps=1,
        batch_size=8,
        epochs=1,
        milestones=(),
        input_norm=True,
        val_frac=0.25,
        progress=False,
    )
    run = train_or_load(cfg, tmp_path, data_fn=lambda c: (train, test), verbose=False)
    fit_idx, _ = validation_split(y, 0.25, cfg.split_seed)
    x_fit = train.inputs[fit_idx].double() / 255.0
    norm = run.model.input_norm
    torch.testing.assert_close(norm.mean.flatten().double(), x_fit.mean((0, 2, 3)))
    torch.testing.assert_close(norm.std.flatten().double(), x_fit.std((0, 2, 3)))
    assert not torch.allclose(norm.mean.flatten().double(), (train.inputs.double() / 255).mean((0, 2, 3)))


def test_input_norm_per_mel_band():
    x = torch.randn(50, 1, 4, 7) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 4, 1) + 5.0
    norm = InputNorm((1, 4, 1), dims=(1,)).fit(x)
    assert norm.mean.shape == (1, 1, 4, 1)
    y = norm(x)
    torch.testing.assert_close(y.mean((0, 1, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((0, 1, 3)), torch.ones(4), atol=1e-5, rtol=0)


def test_image_norm_removes_each_images_colour_and_contrast_scale_but_keeps_its_shape():
    g = torch.Generator().manual_seed(0)
    shape = torch.rand(6, 1, 8, 8, generator=g)
    colours = torch.rand(6, 3, 1, 1, generator=g)
    x = colours + shape * torch.tensor([0.5, 0.2, -0.3]).view(1, 3, 1, 1)  # a glyph in each channel, own contrast
    y = ImageNorm()(x)
    torch.testing.assert_close(y.mean((2, 3)), torch.zeros(6, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.pow(2).mean((1, 2, 3)), torch.ones(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(ImageNorm()(3.0 * x + torch.rand(6, 3, 1, 1, generator=g)), y, atol=1e-5, rtol=0)
    ratio = y[:, 0].std((1, 2)) / y[:, 1].std((1, 2))  # the channels keep their relative contrast
    torch.testing.assert_close(ratio, torch.full((6,), 2.5), atol=1e-4, rtol=0)
    assert torch.isfinite(ImageNorm()(torch.ones(2, 3, 4, 4))).all()  # a flat image


def test_image_norm_is_the_vision_models_input_normalisation_and_needs_no_fit():
    cfg = make_config("vision", "smoke", overrides=["image_norm=image"])
    model = build_model(cfg, 10)
    assert isinstance(model.input_norm, ImageNorm) and not list(model.input_norm.buffers())
    assert isinstance(build_model(cfg.replace(neuron="relu"), 10).input_norm, ImageNorm)
    assert isinstance(build_model(cfg.replace(image_norm="dataset"), 10).input_norm, InputNorm)
    assert isinstance(build_model(cfg.replace(input_norm=False), 10).input_norm, nn.Identity)


def test_band_norm_standardises_each_clip_band_over_its_frames_in_training_units():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 4, 50, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 4, 1) - 30.0
    norm = BandNorm(4).fit(x)
    y = norm(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(40, 1, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(-1), torch.ones(40, 1, 4), atol=1e-5, rtol=0)
    # a clip's loudness (a level per band) and spread (its noise) are divided out
    louder = 2.0 * (x - x.mean(-1, keepdim=True)) + x.mean(-1, keepdim=True) + 6.0
    torch.testing.assert_close(norm(louder), y, atol=1e-4, rtol=0)
    # a band that hardly varies is scaled up at most 1 / floor times (in training-std units), never divided by 0
    flat = x.clone()
    flat[:, :, 0] = -30.0 + 1e-3 * torch.randn(40, 1, 50, generator=g)
    z = norm(flat)[:, :, 0]
    assert torch.isfinite(z).all() and z.abs().max() < 1e-3 / norm.floor * 10
    with pytest.raises(ValueError, match="floor"):
        BandNorm(4, floor=0.0)


def test_band_norm_stats_hand_back_each_band_s_clip_mean_and_log_spread_as_two_channels():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 1, 4, 30, generator=g) * 3.0 + torch.arange(4.0).view(1, 1, 4, 1)
    plain, stats = BandNorm(4).fit(x), BandNorm(4, stats=True).fit(x)
    y = stats(x)
    assert y.shape == (6, 3, 4, 30) and stats.out_channels == 3 and plain.out_channels == 1
    torch.testing.assert_close(y[:, :1], plain(x))
    z = plain.dataset(x)
    torch.testing.assert_close(y[:, 1], z.mean(-1, keepdim=True)[:, 0].expand(6, 4, 30))
    spread = (z - z.mean(-1, keepdim=True)).std(-1, keepdim=True).clamp_min(stats.floor).log()[:, 0]
    torch.testing.assert_close(y[:, 2], spread.expand(6, 4, 30))
    # two clips differing only in a band's level: the same first channel, not the same second one
    louder = x.clone()
    louder[:, :, 2] += 5.0
    assert torch.allclose(stats(louder)[:, 0], y[:, 0], atol=1e-5) and not torch.allclose(stats(louder)[:, 1], y[:, 1])
    # the audio network's first convolution reads the three channels; the feature size is unchanged
    cfg = make_config("audio", "smoke")
    one, three = (build_model(cfg.replace(spectrogram_norm=n), 10) for n in ("clip", "clip_stats"))
    assert three.blocks[0].conv_bn[0].in_channels == 3 and one.blocks[0].conv_bn[0].in_channels == 1
    assert three.feature_dim == one.feature_dim


def test_spectrogram_norm_and_head_threshold_build_the_audio_model():
    cfg = make_config("audio", "smoke")
    model = build_model(cfg, 10)
    assert (cfg.spectrogram_norm, cfg.head_threshold) == ("clip_stats", 0.5)
    assert isinstance(model.input_norm, BandNorm) and isinstance(
        build_model(cfg.replace(neuron="relu"), 10).input_norm, BandNorm
    )
    assert isinstance(build_model(cfg.replace(spectrogram_norm="dataset"), 10).input_norm, InputNorm)
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    assert float(model.head.output_lif.threshold) == 0.5
    assert {float(m.threshold) for m in lifs if m is not model.head.output_lif} == {cfg.threshold} != {0.5}
    same = build_model(cfg.replace(head_threshold=None), 10)
    assert float(same.head.output_lif.threshold) == cfg.threshold
    assert (
        make_config("audio", "paper").spectrogram_norm == "dataset"
        and make_config("audio", "paper").head_threshold is None
    )


# ---- schedule -------------------------------------------------------------------------------------
def test_warmup_then_cosine_and_step_factors():
    cfg = RunConfig(epochs=4, warmup_epochs=1, schedule="cosine")
    f = lr_factor(cfg, steps_per_epoch=10)
    assert [f(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert f(10) == pytest.approx(1.0) and f(25) == pytest.approx(0.5) and f(40) == pytest.approx(0.0)
    step = lr_factor(RunConfig(epochs=4, warmup_epochs=1, milestones=(2, 3), gamma=0.5), steps_per_epoch=10)
    assert [step(s) for s in (15, 20, 30)] == pytest.approx([1.0, 0.5, 0.25])


# ---- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["vision", "audio"])
def test_ann_twin_shares_the_snn_layer_shapes(modality):
    cfg = make_config(modality, "smoke")
    snn, ann = build_model(cfg, 10), build_model(cfg.replace(neuron="relu"), 10)
    lif_state = {f"{name}.{k}" for name, m in snn.named_modules() if isinstance(m, LIF) for k in m.state_dict()}
    assert {k: v.shape for k, v in snn.state_dict().items() if k not in lif_state} == {
        k: v.shape for k, v in ann.state_dict().items()
    }
    n_lif = sum(isinstance(m, LIF) for m in snn.modules())
    assert n_lif > 0 and not any(isinstance(m, LIF) for m in ann.modules())
    assert sum(isinstance(m, nn.ReLU) for m in ann.modules()) == n_lif
    x = torch.rand(2, 3, 32, 32) if modality == "vision" else torch.randn(2, 1, cfg.n_mels, snn.n_frames)
    # the twin runs one step (ReLU is stateless, every step sees the same input): same shapes but T
    fs, fa = snn.forward_features(x), ann.forward_features(x)
    assert fa.shape[0] == 1 and fs.shape[0] == cfg.timesteps and fs.shape[1:] == fa.shape[1:]
    assert snn(x).current.shape[1:] == ann(x).current.shape[1:]
    assert type(ann_twin(snn)) is type(snn) and any(isinstance(m, LIF) for m in snn.modules())


def test_zero_init_residual_zeroes_each_branch_last_bn():
    cfg = make_config("vision", "smoke", overrides=["zero_init_residual=true"])
    net = build_model(cfg, 10)
    bn2 = [m.bn2[0].weight for m in net.modules() if hasattr(m, "bn2")]
    assert len(bn2) == 8 and all(not w.detach().any() for w in bn2)
    plain = build_model(cfg.replace(zero_init_residual=False), 10)
    assert all(bool((m.bn2[0].weight == 1).all()) for m in plain.modules() if hasattr(m, "bn2"))
    assert math.isclose(sum(p.numel() for p in net.parameters()), sum(p.numel() for p in plain.parameters()))


def test_resume_with_the_recipe_equals_uninterrupted(tmp_path):
    """Killed after epoch 2 and resumed: same history, same kept (best) weights, same per-step schedule."""
    data = _separable()
    cfg = _engine_cfg(epochs=4, warmup_epochs=1, schedule="cosine", lr=0.05)
    build, load = (lambda c, n, d: Tiny(4, n)), (lambda c: (data, data))
    full = train_or_load(cfg, tmp_path / "a", model_fn=build, data_fn=load, verbose=False)

    class Killed(Exception):
        pass

    def kill_after_2(epoch, model):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        train_or_load(cfg, tmp_path / "b", model_fn=build, data_fn=load, on_epoch_end=kill_after_2, verbose=False)
    resumed = train_or_load(cfg, tmp_path / "b", model_fn=build, data_fn=load, verbose=False)
    assert resumed.trained_now and full.history == [
        {**h, "seconds": f["seconds"]} for h, f in zip(resumed.history, full.history)
    ]
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    # 27 fit samples, batch 8: 4 steps an epoch; the lr an epoch starts with: warm-up 1/4, then cosine over 12 steps
    assert [h["lr"] for h in full.history][:3] == pytest.approx([0.05 / 4, 0.05, 0.05 * 0.75])


def test_every_profile_trains_on_eq15s_targets_as_printed():
    """Round 8 (issue #30) took out round 7's whole-spike audio targets: every profile trains on Eq. 15 as printed."""
    from avsnn.core.loss import mse_count_loss
    from avsnn.models import ModelOutput
    from avsnn.train.fit import loss_of

    for profile in ("smoke", "default", "gpu", "paper"):
        for modality in ("vision", "audio"):
            assert make_config(modality, profile).truncate_targets is False, (profile, modality)
    cfg = make_config("audio", "default", "synthetic", ["loss=count"])  # Eq. 15's part of the default's loss
    assert "count" in make_config("audio", "default").loss and make_config("audio", "paper").loss == "count"
    spikes = (torch.rand(cfg.timesteps, 6, 5, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    out = ModelOutput(spikes=spikes, features=spikes, z_av=spikes.mean(0), current=spikes)
    got = loss_of(cfg, out, y)
    whole = mse_count_loss(spikes, y, cfg.correct_rate, cfg.incorrect_rate, truncate=True)
    printed = mse_count_loss(spikes, y, cfg.correct_rate, cfg.incorrect_rate, truncate=False)
    assert torch.equal(got, printed) and not torch.isclose(got, whole)
    # the reading that round 7 tried: all-silent outputs cost 3**2 / T per sample over the classes
    silent = torch.zeros_like(spikes)
    assert mse_count_loss(silent, y, cfg.correct_rate, cfg.incorrect_rate, truncate=True).item() == pytest.approx(
        3**2 / cfg.timesteps / 5
    )


def test_twin_has_no_learnt_neuron_parameters():
    """An ANN twin has no decay rate or threshold to learn: the learn flags fall away and its hash is the plain one."""
    twin = make_config("audio", "default", "synthetic", ["neuron=relu"])
    assert not twin.learn_beta and not twin.learn_threshold
    plain = make_config("audio", "default", "synthetic", ["neuron=relu", "learn_beta=false", "learn_threshold=false"])
    assert twin.hash() == plain.hash()
    snn = make_config("audio", "default", "synthetic")
    assert snn.learn_beta and snn.learn_threshold  # the spiking network keeps them (profiles.AUDIO_LEARNED)


def test_loss_options_add_the_twins_loss_to_eq15():
    """``loss``: Eqs. 14-16, the ANN twin's cross-entropy on the scaled cosines (Eq. 13), or both added."""
    import torch.nn.functional as F

    from avsnn.core.loss import mse_count_loss
    from avsnn.models import ModelOutput
    from avsnn.train.fit import TWIN_COSINE_SCALE, loss_of

    gen = torch.Generator().manual_seed(1)
    spikes = (torch.rand(4, 6, 5, generator=gen) < 0.5).float()
    current = torch.rand(4, 6, 5, generator=gen) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    out = ModelOutput(spikes=spikes, features=spikes, z_av=spikes.mean(0), current=current)

    def cfg(**kw):
        return make_config("audio", "default", "synthetic", [f"{k}={v}" for k, v in kw.items()])

    count = mse_count_loss(spikes, y, 0.85, 0.15)
    ce = F.cross_entropy(TWIN_COSINE_SCALE * current.mean(0), y)
    assert torch.equal(loss_of(cfg(loss="count"), out, y), count)
    assert torch.equal(loss_of(cfg(loss="cosine_ce"), out, y), ce)
    assert torch.allclose(loss_of(cfg(loss="count+cosine_ce"), out, y), count + ce)
    assert torch.equal(loss_of(cfg(loss="count+cosine_ce", neuron="relu"), out, y), ce)  # the twin: its own loss only
    fc = cfg(loss="cosine_ce", head="fc")
    assert torch.equal(loss_of(fc, out, y), F.cross_entropy(current.mean(0), y))  # an fc head's logits, unscaled
    assert cfg(loss="count+cosine_ce", neuron="relu").hash() == cfg(loss="count", neuron="relu").hash()
    with pytest.raises(ValueError, match="loss must be one of"):
        cfg(loss="ce")
