"""The audio augmentation of round 10 (issue #30): a random roll of each training clip in time."""

import pytest
import torch

from avsnn.data.augment import TIME_SHIFT_MAX, time_shift
from avsnn.train import RunConfig


def _clips(b=6, frames=40):
    return torch.randn(b, 1, 8, frames, generator=torch.Generator().manual_seed(0))


def _offsets(x, y):
    """Each clip's roll, found by trying them all (None where no roll gives y)."""
    frames = x.shape[-1]
    return [
        next((o for o in range(-frames + 1, frames) if torch.equal(torch.roll(x[b], o, dims=-1), y[b])), None)
        for b in range(len(x))
    ]


def test_each_clip_is_rolled_by_its_own_offset_within_the_share():
    x = _clips(b=32)
    y = time_shift(x, 0.25, torch.Generator().manual_seed(1))
    offsets = _offsets(x, y)
    assert None not in offsets and all(abs(o) <= 10 or abs(o) >= 30 for o in offsets)  # |o| <= 0.25 * 40, mod 40
    assert len({o % 40 for o in offsets}) > 3  # not one offset for the batch
    # a roll moves frames: every band keeps its values, so its clip mean and spread are unchanged
    assert torch.allclose(y.mean(-1), x.mean(-1), atol=1e-6) and torch.allclose(y.std(-1), x.std(-1), atol=1e-6)


def test_the_shift_is_seeded_and_a_zero_share_leaves_the_input():
    x = _clips()
    a = time_shift(x, 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(a, time_shift(x, 0.3, torch.Generator().manual_seed(5)))
    assert time_shift(x, 0.0) is x and time_shift(x, 0.02) is x  # floor(0.02 * 40) = 0 frames
    for bad in (-0.1, TIME_SHIFT_MAX + 0.1):
        with pytest.raises(ValueError, match="share"):
            time_shift(x, bad)
    with pytest.raises(ValueError, match="shaped"):
        time_shift(x[0], 0.25)


def test_the_config_takes_time_shift_for_audio_runs_only():
    assert RunConfig(modality="audio", time_shift=0.25).time_shift == 0.25
    with pytest.raises(ValueError, match="time_shift"):
        RunConfig(modality="audio", time_shift=0.6)
    from avsnn.train.config import check_read

    with pytest.raises(ValueError, match="time_shift is not used by vision"):
        check_read("vision", "time_shift")
    # off, it leaves the hashes of earlier runs as they were
    assert RunConfig(modality="audio").hash() == RunConfig(modality="audio", time_shift=0.0).hash()
    assert RunConfig(modality="audio").hash() != RunConfig(modality="audio", time_shift=0.25).hash()


def test_training_rolls_the_training_batches_and_nothing_else(monkeypatch, tmp_path):
    from avsnn.train import fit as fit_module
    from avsnn.train import train_or_load
    from tests.test_recipe import Tiny, _engine_cfg, _separable

    seen = []

    def spy(x, share, generator=None):
        seen.append((len(x), share))
        return time_shift(x, share, generator)

    monkeypatch.setattr(fit_module, "time_shift", spy)
    data = _separable()  # 36 samples of [1, 2, 2]: 27 fitted, 9 validated (val_frac 0.25)
    cfg = _engine_cfg(modality="audio", epochs=2, time_shift=0.5)
    run = train_or_load(cfg, tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (data, data))
    assert len(run.history) == 2 and seen == [(8, 0.5), (8, 0.5), (8, 0.5), (3, 0.5)] * 2  # batches of 8 of 27
    seen.clear()
    train_or_load(
        cfg.replace(time_shift=0.0), tmp_path, model_fn=lambda c, n, d: Tiny(4, n), data_fn=lambda c: (data, data)
    )
    assert seen == []
