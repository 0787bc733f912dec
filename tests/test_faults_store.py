"""Fault injection for the run store, the training loop and the command line (issues #11 and #17).

Each test reproduces one fault found by probing: a stale or damaged run served as if current, a
diverged run marked done, or a fault that ended in a raw traceback instead of one line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train_helpers import tiny_config, tiny_data, tiny_model

import avsnn.files as files_mod
import avsnn.train.store as store_mod
from avsnn.cli import main, run_command
from avsnn.train import RunStore, TrainingDiverged, make_config, train_or_load
from avsnn.train.store import RunStoreError, data_fingerprint, run_key

ROOT = Path(__file__).resolve().parent.parent
LIF_CHAPTER = ROOT / "book" / "01_lif_neuron.md"


def _train(cfg, root, **kw):
    return train_or_load(cfg, root, progress=False, verbose=False, model_fn=tiny_model, data_fn=tiny_data, **kw)


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _one_error_line(capsys, rc, *needles) -> str:
    """The command failed with exit code 2 and exactly one ``avsnn ...: error: ...`` line, no traceback."""
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1 and lines[0].startswith("avsnn"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A tiny on-disk release (2 classes x 4 pairs) and a private data cache."""
    from fixtures import write_release_fixture

    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    return write_release_fixture(tmp_path / "rel", per_class=4)


# ---- 1. run identity: data and code ---------------------------------------------------------------
def test_config_hash_is_unchanged_for_the_same_settings():
    from fixtures import hash_as_embedded

    # values of the commit before run keys were added: configs keep their hashes (goldens print them).
    # The default profile's settings changed with the training recipe (#16) and the vision decay rate
    # (beta 0.9 -> 0.5, #30) and its step budget (min_steps, #30 round 6); the old settings keep theirs.
    # The synthetic set was first called "embedded": under that name each config keeps its old hash,
    # so the rename changed the dataset string and nothing else.
    old_beta = {"beta": 0.9, "min_steps": None}
    old_default = make_config(
        "vision",
        "default",
        overrides={
            **old_beta,
            "input_norm": False,
            "image_norm": "dataset",
            "zero_init_residual": False,
            "val_frac": 0.0,
            "patience": None,
            "warmup_epochs": 0,
            "schedule": "step",
            "lr": 2e-3,
            "epochs": 6,
            "milestones": (5,),
        },
    )
    from test_recipe import OLD_SMOKE  # the smoke profile's settings before it learned (#17)

    old = {**old_beta, "epochs": 8, "schedule": "step", "image_norm": "dataset"}
    configs = [
        (old_default, "a91d205905cf"),
        # the default vision profile as of the cosine schedule over 12 epochs (#16); its settings before
        # that change keep their hash
        (make_config("vision", "default", overrides={**old_beta, "image_norm": "dataset"}), "b348477d56e2"),
        # the default vision profile as of per-image input normalisation (#30)
        (make_config("vision", "default", overrides=old_beta), "4ee28b143b7b"),
        (make_config("vision", "default", overrides=old), "64b11f04db49"),
        (make_config("fusion", "smoke", overrides=OLD_SMOKE["fusion"]), "03e60a45c0e1"),
    ]
    assert [hash_as_embedded(cfg) for cfg, _ in configs] == [h for _, h in configs]
    # and under the name "synthetic":
    now = ["e1ec1825a4f5", "4d65689a9df9", "df1921d7ee8d", "95e6a84883bf", "31d1465f6086"]
    assert [cfg.hash() for cfg, _ in configs] == now


def test_dataset_path_spellings_give_one_config(tmp_path, monkeypatch):
    from fixtures import write_release_fixture

    write_release_fixture(tmp_path / "emb", per_class=2)
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cfgs = [make_config("vision", "smoke", d) for d in ("emb", "emb/", "./emb", str(tmp_path / "emb"))]
    assert {c.dataset for c in cfgs} == {str((tmp_path / "emb").resolve())}
    assert len({c.hash() for c in cfgs}) == 1 and len({run_key(c) for c in cfgs}) == 1
    assert make_config("vision", "smoke", "synthetic").dataset == "synthetic"


def test_edited_dataset_gets_a_new_run(tmp_path, release):
    cfg = tiny_config(epochs=1, dataset=str(release))
    first = _train(cfg, tmp_path / "runs")
    assert first.trained_now and not _train(cfg, tmp_path / "runs").trained_now  # unchanged data: reused
    wav = min((release / "audio").rglob("*.wav"))
    with open(wav, "ab") as f:  # the dataset changes (size and mtime)
        f.write(b"\0\0")
    again = _train(cfg, tmp_path / "runs")
    assert again.trained_now and again.path != first.path
    assert again.metrics["data_fingerprint"] == data_fingerprint(cfg) != first.metrics["data_fingerprint"]


def test_changed_code_gets_a_new_run(tmp_path, monkeypatch):
    cfg = tiny_config(epochs=1)
    first = _train(cfg, tmp_path)
    recorded = json.loads((first.path / "config.json").read_text())
    assert recorded["code_fingerprint"] == store_mod.code_fingerprint() == first.metrics["code_fingerprint"]
    assert recorded["run_key"] == first.path.name and recorded["config_hash"] == cfg.hash()
    monkeypatch.setattr(store_mod, "code_fingerprint", lambda: "other-code")
    again = _train(cfg, tmp_path)
    assert again.trained_now and again.path != first.path and again.metrics["code_fingerprint"] == "other-code"


def test_code_fingerprint_covers_the_training_source_only(tmp_path, monkeypatch):
    copy = tmp_path / "avsnn"
    shutil.copytree(store_mod.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    fingerprint = store_mod.code_fingerprint.__wrapped__
    monkeypatch.setattr(store_mod, "PACKAGE", copy)
    assert fingerprint() == store_mod.code_fingerprint()
    (copy / "train" / "cli.py").write_text("# a command-line change\n", encoding="utf-8")
    assert fingerprint() == store_mod.code_fingerprint()
    with open(copy / "core" / "lif.py", "a") as f:
        f.write("\n_A_CHANGE_TO_THE_NEURON = 1\n")
    assert fingerprint() != store_mod.code_fingerprint()


def _run_keys_around_an_edit(tmp_path, monkeypatch, path: str, old: str, new: str) -> tuple[str, str]:
    """A run's key with a copy of the package as the code, before and after one textual edit of ``path``."""
    copy = tmp_path / "avsnn"
    shutil.copytree(store_mod.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = (copy / path).read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{path}: {old!r} must occur once"
    cfg = tiny_config(epochs=1)
    monkeypatch.setattr(store_mod, "PACKAGE", copy)
    try:
        store_mod.code_fingerprint.cache_clear()
        before = run_key(cfg)
        (copy / path).write_text(source.replace(old, new), encoding="utf-8")
        store_mod.code_fingerprint.cache_clear()
        return before, run_key(cfg)
    finally:
        store_mod.code_fingerprint.cache_clear()  # the next caller sees the real package again


@pytest.mark.parametrize(
    "path,old,new",
    [
        ("models/resnet.py", '"""ActAfterAddition basic block', '"""The ActAfterAddition basic block'),  # docstring
        ("models/resnet.py", "# As torchvision's ResNet", "# As in torchvision's ResNet"),  # comment
        ("core/loss.py", "on, off = T * correct_rate", "on, off = (T\n        * correct_rate)"),  # layout
    ],
)
def test_docstring_comment_and_layout_edits_keep_the_run_key(tmp_path, monkeypatch, path, old, new):
    before, after = _run_keys_around_an_edit(tmp_path, monkeypatch, path, old, new)
    assert before == after


@pytest.mark.parametrize(
    "path,old,new",
    [
        ("core/lif.py", "beta: float = 0.9,", "beta: float = 0.8,"),  # a constant
        ("core/loss.py", "T * correct_rate,", "T / correct_rate,"),  # an operator
    ],
)
def test_changed_constants_and_operators_change_the_run_key(tmp_path, monkeypatch, path, old, new):
    before, after = _run_keys_around_an_edit(tmp_path, monkeypatch, path, old, new)
    assert before != after


def test_fusion_run_key_covers_its_inputs_data(release):
    cfg = make_config("fusion", "smoke", str(release))
    keys = [run_key(c) for c in (cfg, *cfg.sub_configs.values())]
    png = min((release / "vision").rglob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")  # a data file of the vision input changes
    assert all(run_key(c) != k for c, k in zip((cfg, *cfg.sub_configs.values()), keys))


def test_show_finds_a_run_by_key_and_by_config_hash(tmp_path, capsys):
    cfg = tiny_config(epochs=1)
    run = _train(cfg, tmp_path)
    for arg in (run.path.name, cfg.hash(), str(run.path)):
        assert main(["show", arg, "--runs", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert f"run {run.path}" in out and "state done" in out
    _one_error_line(capsys, main(["show", "nosuchrun", "--runs", str(tmp_path)]), "no run key or config hash")


# ---- 2. non-finite hyper-parameters and weights ---------------------------------------------------
@pytest.mark.parametrize(
    "modality, override",
    [("vision", "lr=inf"), ("vision", "lr=nan"), ("audio", "gamma=-inf"), ("fusion", "vision.beta=nan")],
)
def test_non_finite_hyper_parameter_is_rejected(modality, override):
    key = override.split("=")[0].split(".")[-1]
    with pytest.raises(ValueError, match=f"^{key} must be a finite number"):
        make_config(modality, "smoke", overrides=[override])


def test_non_finite_hyper_parameter_on_the_command_line(tmp_path, capsys):
    rc = main(["train", "--modality", "vision", "--profile", "smoke", "--set", "lr=inf", "--runs", str(tmp_path)])
    _one_error_line(capsys, rc, "lr must be a finite number, got inf")
    assert not any(tmp_path.iterdir())


def test_non_finite_weights_stop_the_run(tmp_path):
    def poisoned(cfg, num_classes, input_dims=None):  # a weight the loss never sees turns NaN
        m = tiny_model(cfg, num_classes, input_dims)
        m.unused = torch.nn.Parameter(torch.tensor([float("nan")]))
        return m

    cfg = tiny_config(epochs=2)
    with pytest.raises(TrainingDiverged, match="weights became non-finite in epoch 1.*'unused'"):
        train_or_load(cfg, tmp_path, progress=False, verbose=False, model_fn=poisoned, data_fn=tiny_data)
    st = RunStore(cfg, tmp_path)
    assert not st.done and not st.has_checkpoint()


# ---- 3./4. damaged files of finished and unfinished runs -------------------------------------------
def test_done_records_size_and_sha256(tmp_path):
    run = _train(tiny_config(epochs=1), tmp_path)
    files = json.loads((run.path / "DONE").read_text())["files"]
    assert set(files) == {"checkpoint.pt", "metrics.json", "config.json", "history.json"}
    assert files["checkpoint.pt"] == store_mod.file_record(run.path / "checkpoint.pt")
    assert RunStore(run.config, tmp_path).verify() == {}


def test_truncated_checkpoint_of_a_finished_run_is_retrained(tmp_path, capsys):
    cfg = tiny_config(epochs=2)
    ref = _train(cfg, tmp_path / "ref")
    run = _train(cfg, tmp_path / "a")
    ck = run.path / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    capsys.readouterr()
    again = _train(cfg, tmp_path / "a")
    err = capsys.readouterr().err
    assert "damaged" in err and "checkpoint.pt" in err and "retraining" in err
    assert "resuming from checkpoint.prev.pt (epoch 1)" in err
    assert again.trained_now and _same_weights(again.model, ref.model)
    assert RunStore(cfg, tmp_path / "a").verify() == {}


def test_damaged_metrics_json_is_evaluated_again(tmp_path, capsys, monkeypatch):
    cfg = tiny_config(epochs=1)
    run = _train(cfg, tmp_path)
    metrics, ck_sha = run.metrics, store_mod.file_record(run.path / "checkpoint.pt")
    (run.path / "metrics.json").write_text('{"test_accuracy": 0.')  # cut short
    with pytest.raises(ValueError, match="metrics.json is damaged: not valid JSON"):
        _ = run.metrics
    capsys.readouterr()
    again = _train(cfg, tmp_path)
    err = capsys.readouterr().err
    assert "metrics.json" in err and "evaluating it again" in err
    assert again.metrics["test_accuracy"] == metrics["test_accuracy"] and again.history == run.history
    assert store_mod.file_record(run.path / "checkpoint.pt") == ck_sha  # no epoch was trained again


@pytest.mark.parametrize("damage", ["cut", "edited"])
def test_damaged_history_json_of_a_finished_run_is_repaired(tmp_path, capsys, damage):
    cfg = tiny_config(epochs=2)
    run = _train(cfg, tmp_path)
    history, ck_sha = run.history, store_mod.file_record(run.path / "checkpoint.pt")
    h = run.path / "history.json"
    if damage == "cut":
        h.write_bytes(h.read_bytes()[:-20])
    else:  # still valid JSON, other numbers: only the DONE record can tell
        h.write_text(json.dumps([{**r, "test_margin": 0.5} for r in history], indent=2) + "\n")
    assert set(RunStore(cfg, tmp_path).verify()) == {"history.json"}
    capsys.readouterr()
    again = _train(cfg, tmp_path)
    err = capsys.readouterr().err
    assert "history.json" in err and "evaluating it again" in err
    assert again.history == history
    assert store_mod.file_record(run.path / "checkpoint.pt") == ck_sha and RunStore(cfg, tmp_path).verify() == {}


def test_damaged_config_json_is_named_and_repaired(tmp_path, capsys):
    cfg = tiny_config(epochs=1)
    run = _train(cfg, tmp_path)
    (run.path / "config.json").write_text("{not json")
    _one_error_line(capsys, main(["show", str(run.path)]), "config.json is damaged: not valid JSON")
    again = _train(cfg, tmp_path)
    assert "config.json" in capsys.readouterr().err
    assert json.loads((again.path / "config.json").read_text())["run_key"] == run.path.name
    assert main(["show", str(run.path)]) == 0 and "state done" in capsys.readouterr().out


class Killed(Exception):
    pass


@pytest.mark.parametrize(
    "kill_after, message", [(2, "resuming from checkpoint.prev.pt (epoch 1)"), (1, "training from scratch")]
)
def test_truncated_checkpoint_of_an_unfinished_run(tmp_path, capsys, kill_after, message):
    cfg = tiny_config(epochs=3)

    def kill(epoch, model):
        if epoch == kill_after:
            raise Killed

    with pytest.raises(Killed):
        _train(cfg, tmp_path / "a", on_epoch_end=kill)
    ck = RunStore(cfg, tmp_path / "a").path / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:100])
    capsys.readouterr()
    resumed = _train(cfg, tmp_path / "a")
    err = capsys.readouterr().err
    assert "checkpoint.pt is damaged" in err and message in err
    assert _same_weights(resumed.model, _train(cfg, tmp_path / "ref").model)


# ---- 6. one line instead of a traceback -------------------------------------------------------------
def test_full_disk_during_a_checkpoint_loses_nothing(tmp_path, release, capsys, monkeypatch):
    real_save, calls = torch.save, {"n": 0}

    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and "optimizer" in obj:
            calls["n"] += 1
            if calls["n"] == 2:  # the checkpoint of epoch 2
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(store_mod.torch, "save", save)
    argv = [
        "train",
        "--modality",
        "vision",
        "--profile",
        "smoke",
        "--data",
        str(release),
        "--set",
        "epochs=2",
        "--set",
        "device=cpu",
        "--runs",
        str(tmp_path / "runs"),
        "--quiet",
    ]
    _one_error_line(
        capsys, main(argv), "No space left on device", "nothing earlier is lost: the previous checkpoint.pt is intact"
    )
    st = RunStore(make_config("vision", "smoke", str(release), ["epochs=2", "device=cpu"]), tmp_path / "runs")
    assert st.load_checkpoint()["epoch"] == 1 and not st.done
    assert not list(st.path.glob(".*.tmp"))
    assert main(argv) == 0 and st.done  # space again: resumes and finishes


def test_read_only_run_store(tmp_path, release, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores the mode: make the folder refuse writes instead
        real_mkdir = Path.mkdir

        def mkdir(self, *a, **k):
            if self.is_relative_to(ro):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    rc = main(
        ["train", "--modality", "vision", "--profile", "smoke", "--data", str(release), "--runs", str(ro), "--quiet"]
    )
    _one_error_line(capsys, rc, f"cannot write {ro}", "Permission denied", "--runs")
    ro.chmod(0o755)


def test_store_write_error_names_file_and_what_is_intact(tmp_path, monkeypatch):
    cfg = tiny_config(epochs=1)
    st = RunStore(cfg, tmp_path)
    st.make_folder()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files_mod.tempfile, "mkstemp", full)
    with pytest.raises(RunStoreError, match="checkpoint.pt: No space left on device; nothing earlier is lost"):
        st.save_checkpoint({"epoch": 1})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--modality", "vision", "--profile", "smoke", "--set", "device=cuda"],
        ["bench", "--device", "cuda", "--width", "4", "--data", "none"],
    ],
)
def test_cuda_without_a_gpu(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))  # the run key reads the (generated) data
    _one_error_line(
        capsys, main(argv + (["--runs", str(tmp_path)] if argv[0] == "train" else [])), "CUDA is not available"
    )


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--batch", "0"),
        ("--steps", "0"),
        ("--width", "-2"),
        ("--timesteps", "0"),
        ("--warmup", "-1"),
        ("--threads", "0"),
    ],
)
def test_bench_rejects_non_positive_sizes(capsys, flag, value):
    name = flag.lstrip("-")
    _one_error_line(
        capsys,
        main(["bench", flag, value, "--device", "cpu", "--data", "none"]),
        f"{name} must be an integer >= ",
        f"got {value}",
    )


def test_chapter_parameter_is_checked_before_running(tmp_path, capsys):
    rc = main(["chapter", "run", str(LIF_CHAPTER), "-p", "timesteps", "0", "-o", str(tmp_path), "--quiet"])
    _one_error_line(capsys, rc, "timesteps must be a positive integer, got 0")
    assert not list(tmp_path.glob("*.ipynb"))
    rc = main(["chapter", "run", str(ROOT / "book" / "05_vision.md"), "-p", "profile", "huge", "-o", str(tmp_path)])
    _one_error_line(capsys, rc, "profile must be one of")


def test_chapter_output_inside_the_book_is_refused(capsys):
    out = ROOT / "book" / "_results_test"
    rc = main(["chapter", "run", str(LIF_CHAPTER), "-o", str(out), "--quiet"])
    _one_error_line(capsys, rc, "lies in the book sources")
    assert not out.exists()


FAILING_CHAPTER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

```{code-cell} ipython3
:tags: [parameters]

divisor = 1
```

```{code-cell} ipython3
print(1 / (divisor - 1))
```
"""


def test_failing_chapter_is_one_line_and_keeps_the_executed_notebook(tmp_path, capsys):
    chapter = tmp_path / "src" / "failing.md"
    chapter.parent.mkdir()
    chapter.write_text(FAILING_CHAPTER)
    out = tmp_path / "out"
    _one_error_line(
        capsys,
        main(["chapter", "run", str(chapter), "-o", str(out), "--quiet"]),
        "failing.md failed in cell",
        "ZeroDivisionError",
        str(out / "failing.failed.ipynb"),
    )
    assert sorted(p.name for p in out.iterdir()) == ["failing.failed.ipynb"]  # no .partial.ipynb, no result


def test_show_into_a_closed_pipe_is_quiet(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"modality": "vision", "profile": "smoke"}))
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5, "epochs": 1}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen(
        [sys.executable, "-m", "avsnn", "show", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    p.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    p.stderr.close()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_unexpected_errors_keep_their_traceback(monkeypatch, capsys):
    class Args:
        command = "x"

    def bug(args):
        raise KeyError("a bug")

    def torch_failure(args):  # a RuntimeError raised outside avsnn is a bug too
        raise RuntimeError("size mismatch")

    for func in (bug, torch_failure):
        Args.func = staticmethod(func)
        with pytest.raises((KeyError, RuntimeError)):
            run_command(Args())

    def bad_input(args):
        raise ValueError("lr must be > 0")

    Args.func = staticmethod(bad_input)
    assert run_command(Args()) == 2 and "avsnn x: error: lr must be > 0" in capsys.readouterr().err
    monkeypatch.setenv("AVSNN_DEBUG", "1")
    with pytest.raises(ValueError):
        run_command(Args())


# ---- run-store files follow the umask ----------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_store_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        run = _train(tiny_config(epochs=1), tmp_path)
        written = files_mod.atomic_write_bytes(tmp_path / "x" / "f.bin", b"x")
    finally:
        os.umask(old)
    for p in [
        written,
        *(run.path / n for n in ("config.json", "checkpoint.pt", "history.json", "metrics.json", "DONE")),
    ]:
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, p


# ---- 5. C++ extension build folder ------------------------------------------------------------------
def test_cpp_build_key_follows_the_interpreter(monkeypatch):
    from avsnn.core.kernels import cpp as fused

    key = fused.cpp_build_key()
    assert key == fused.cpp_build_key() and len(key) == 12
    monkeypatch.setattr(sys, "executable", "/other/venv/bin/python")
    assert fused.cpp_build_key() != key


# ---- a class missing from the test or validation part ------------------------------------------------
def _data_without_class_2_in_test(cfg):
    from test_train_helpers import TinyData

    tr, te = TinyData(20, 1), TinyData(8, 2)
    keep = te.labels != 2
    te.images, te.labels, te.spectrograms = te.images[keep], te.labels[keep], te.spectrograms[keep]
    te.keys = [k for k, m in zip(te.keys, keep.tolist()) if m]
    return tr, te


def test_a_class_absent_from_the_test_part_is_reported_and_stored_as_null(tmp_path, capsys):
    run = train_or_load(
        tiny_config(epochs=1), tmp_path, progress=False, model_fn=tiny_model, data_fn=_data_without_class_2_in_test
    )
    err = capsys.readouterr().err
    assert "the test part has no sample of 1 class(es): c2 (20 in training)" in err
    assert "null in per_class_accuracy" in err
    text = (run.path / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["per_class_accuracy"][2] is None


def test_a_class_with_one_pair_is_absent_from_the_validation_part(tmp_path, capsys):
    def one_pair_of_class_2(cfg):
        tr, te = tiny_data(cfg)
        keep = (tr.labels != 2) | (torch.arange(len(tr.labels)) == int((tr.labels == 2).nonzero()[0]))
        tr.images, tr.labels, tr.spectrograms = tr.images[keep], tr.labels[keep], tr.spectrograms[keep]
        tr.keys = [k for k, m in zip(tr.keys, keep.tolist()) if m]
        return tr, te

    train_or_load(
        tiny_config(epochs=1, val_frac=0.25), tmp_path, progress=False, model_fn=tiny_model, data_fn=one_pair_of_class_2
    )
    err = capsys.readouterr().err
    assert "the validation part has no sample of 1 class(es): c2 (1 in training)" in err
