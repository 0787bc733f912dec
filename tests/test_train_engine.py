"""Training engine: resume-after-kill equality, atomic checkpoints, cache hits, NaN stop."""

from __future__ import annotations

import json

import pytest
import torch
from test_train_helpers import tiny_config, tiny_data, tiny_model

import avsnn.train.engine as engine
import avsnn.train.fit as fit_mod
import avsnn.train.store as store_mod
from avsnn.train import RunStore, TrainingDiverged, train_or_load
from avsnn.train.store import run_key


class Killed(Exception):
    pass


def _train(cfg, root, **kw):
    return train_or_load(cfg, root, progress=False, verbose=False, model_fn=tiny_model, data_fn=tiny_data, **kw)


def _assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_train_writes_store(tmp_path):
    cfg = tiny_config()
    run = _train(cfg, tmp_path)
    assert run.path == tmp_path / run_key(cfg)
    for name in ("config.json", "checkpoint.pt", "history.json", "metrics.json", "DONE"):
        assert (run.path / name).exists(), name
    hist = run.history
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[0]["lr"] == pytest.approx(1e-2) and hist[2]["lr"] == pytest.approx(1e-3)  # milestone 2
    m = run.metrics
    assert 0 <= m["test_accuracy"] <= 1 and m["test_accuracy"] > 0.6  # clustered toy data
    assert set(m["separability"]) == {"train", "test"}
    json.dumps(m)  # JSON-able
    assert json.loads((run.path / "config.json").read_text())["modality"] == "vision"
    assert not run.model.training


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    cfg = tiny_config(epochs=4)
    full = _train(cfg, tmp_path / "a")

    def kill_after_2(epoch, model):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        _train(cfg, tmp_path / "b", on_epoch_end=kill_after_2)
    st = RunStore(cfg, tmp_path / "b")
    assert not st.done and st.load_checkpoint()["epoch"] == 2
    # a different process state in between must not matter
    torch.manual_seed(12345)
    torch.randn(100)
    resumed = _train(cfg, tmp_path / "b")
    assert resumed.trained_now
    _assert_same_state(full.model.state_dict(), resumed.model.state_dict())
    ca, cb = RunStore(cfg, tmp_path / "a").load_checkpoint(), st.load_checkpoint()
    _assert_same_state(ca["optimizer"]["state"][0], cb["optimizer"]["state"][0])
    ma, mb = full.metrics, resumed.metrics
    for k in ("test_accuracy", "train_accuracy", "confusion", "separability"):
        assert ma[k] == mb[k], k
    assert [h["loss"] for h in full.history] == [h["loss"] for h in resumed.history]


def test_cache_hit_does_not_train(tmp_path, monkeypatch):
    cfg = tiny_config(epochs=1)
    first = _train(cfg, tmp_path)
    assert first.trained_now

    def boom(*a, **k):
        raise AssertionError("training ran on a cache hit")

    monkeypatch.setattr(engine, "fit", boom)
    monkeypatch.setattr(engine, "fusion_data", boom)
    again = _train(cfg, tmp_path)
    assert not again.trained_now and again.path == first.path
    assert again.metrics == first.metrics
    _assert_same_state(again.model.state_dict(), first.model.state_dict())


def test_cosmetic_fields_share_the_run(tmp_path):
    cfg = tiny_config(epochs=1)
    assert cfg.hash() == cfg.replace(progress=True, profile="x", device="auto").hash()
    assert cfg.hash() != cfg.replace(lr=2e-2).hash()


def test_killed_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    cfg = tiny_config(epochs=3)

    real_save = torch.save
    calls = {"n": 0}

    def partial_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the checkpoint after epoch 2: write some bytes, then "die"
            f.write(b"PK\x03\x04 partial garbage")
            raise Killed("killed mid-write")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(store_mod.torch, "save", partial_save)
    with pytest.raises(Killed):
        _train(cfg, tmp_path)
    monkeypatch.setattr(store_mod.torch, "save", real_save)
    st = RunStore(cfg, tmp_path)
    ck = st.load_checkpoint()
    assert ck["epoch"] == 1
    assert not [p for p in st.path.iterdir() if p.name.endswith(".tmp")]  # temp file cleaned up
    # and the run can finish from there, ending where an uninterrupted run ends
    done = _train(cfg, tmp_path)
    ref = _train(cfg, tmp_path / "ref")
    _assert_same_state(done.model.state_dict(), ref.model.state_dict())


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_config(epochs=3)
    real = fit_mod.mse_count_loss
    calls = {"n": 0}
    per_epoch = -(-60 // cfg.batch_size)

    def nan_in_epoch_2(spikes, labels, *a, **k):
        calls["n"] += 1
        loss = real(spikes, labels, *a, **k)
        return loss * float("nan") if calls["n"] == per_epoch + 3 else loss

    monkeypatch.setattr(fit_mod, "mse_count_loss", nan_in_epoch_2)
    with pytest.raises(TrainingDiverged, match="nan.*epoch 2"):
        _train(cfg, tmp_path)
    st = RunStore(cfg, tmp_path)
    assert not st.done
    ck = st.load_checkpoint()
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_max_train_batches_and_zero_epochs(tmp_path):
    run = _train(tiny_config(epochs=1, max_train_batches=2), tmp_path)
    assert run.history[0]["epoch"] == 1
    run0 = _train(tiny_config(epochs=0), tmp_path)
    assert run0.history == [] and (run0.path / "DONE").exists()
    assert run0.model is not None


def test_fusion_on_tiny_features(tmp_path):
    from avsnn.train import make_config

    cfg = make_config(
        "fusion", "smoke", "tiny", ["epochs=2", "vision.epochs=2", "audio.epochs=2", "timesteps=4", "device=cpu"]
    )
    run = _train(cfg, tmp_path)
    subs = cfg.sub_configs
    for name in ("vision", "audio"):
        p = tmp_path / run_key(subs[name])
        assert (p / "DONE").exists() and (p / "features_train.pt").exists() and (p / "features_test.pt").exists()
    tr, te = run.array_data()
    assert set(tr.inputs) == {"vision", "audio"}
    assert torch.allclose(tr.inputs["vision"].norm(dim=1)[tr.inputs["vision"].norm(dim=1) > 0], torch.tensor(1.0))
    assert 0 <= run.metrics["test_accuracy"] <= 1
    assert run.metrics["cpu_isa"].startswith("CPU instruction set ")
    # single-modality SMLP baseline on the same cached features
    base = make_config(
        "fusion",
        "smoke",
        "tiny",
        ["fusion_inputs=vision", "epochs=2", "vision.epochs=2", "audio.epochs=2", "timesteps=4", "device=cpu"],
    )
    assert base.audio_config is None and base.vision_config == cfg.vision_config
    brun = _train(base, tmp_path)
    assert set(brun.array_data()[0].inputs) == {"vision"}


def test_second_trainer_waits_for_lock_then_loads(tmp_path, monkeypatch):
    """While one process holds a run's lock, a second trainer blocks on it (an explicit lock probe,
    no timing), then finds the run finished by the holder's release order and trains it once."""
    import fcntl
    import threading

    cfg = tiny_config(epochs=1)
    st = RunStore(cfg, tmp_path)
    real_flock, blocked, events, result = fcntl.flock, threading.Event(), [], {}

    def probing_flock(f, op):
        if op == fcntl.LOCK_EX and threading.current_thread() is not threading.main_thread():
            try:  # the lock must be taken: a non-blocking attempt fails while the test holds it
                real_flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                events.append("acquired without waiting")
            except BlockingIOError:
                events.append("blocked")
                blocked.set()
                real_flock(f, op)
                events.append("acquired after release")
            return None
        return real_flock(f, op)

    monkeypatch.setattr(fcntl, "flock", probing_flock)
    with st.lock():
        th = threading.Thread(target=lambda: result.setdefault("run", _train(cfg, tmp_path)))
        th.start()
        assert blocked.wait(120), events  # the trainer reached the lock and could not take it
        assert not st.done and not st.has_checkpoint()
        events.append("released")
    th.join(600)
    assert events == ["blocked", "released", "acquired after release"]
    assert result["run"].trained_now and st.done


def test_run_records_its_lif_backend(tmp_path):
    """metrics.json names the LIF backend that ran, the one asked for and any fallback of auto;
    an explicit backend that cannot run here stops training before the first epoch, in one line."""
    from avsnn.core.kernels import BackendUnavailable
    from avsnn.core.lif import set_backend

    def model_fn(cfg, num_classes, input_dims=None):
        return set_backend(tiny_model(cfg, num_classes, input_dims), cfg.lif_backend)

    cfg = tiny_config(epochs=1, max_train_batches=1, lif_backend="torch")
    run = train_or_load(cfg, tmp_path, progress=False, verbose=False, model_fn=model_fn, data_fn=tiny_data)
    m = json.loads((run.path / "metrics.json").read_text())
    assert m["lif_backend"] == "torch" and m["lif_backend_requested"] == "torch"
    assert isinstance(m["lif_backend_fallbacks"], dict)
    with pytest.raises(BackendUnavailable, match="backend='triton' is unavailable"):
        train_or_load(
            cfg.replace(lif_backend="triton", seed=7),
            tmp_path,
            progress=False,
            verbose=False,
            model_fn=model_fn,
            data_fn=tiny_data,
        )
