"""Fault injection for the command line, round two (issue #24).

Each bad input ends as one line naming the parameter or file and what was expected, before anything is
written: no run folder, no config print, no output folder, no benchmark timed for nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from test_faults_store import _one_error_line

import avsnn.device as device_mod
import avsnn.files as files_mod
from avsnn.cli import main
from avsnn.console import did_you_mean
from avsnn.data import AudioConfig, default_cache_dir
from avsnn.data.datasets import check_data_source
from avsnn.files import check_output_file, check_output_folder
from avsnn.train import make_config
from avsnn.train import preflight as preflight_mod
from avsnn.train.factories import build_model
from avsnn.train.preflight import check_memory, estimate_memory

ROOT = Path(__file__).resolve().parent.parent
LIF_CHAPTER = ROOT / "book" / "01_lif_neuron.md"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """A private data cache (nothing is generated in it: every command here fails before)."""
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))


def _refused(capsys, rc, *needles) -> str:
    """Exit code 2, one error line holding ``needles``, and nothing on stdout (no config printed)."""
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    return _one_error_line(SimpleNamespace(readouterr=lambda: captured), rc, *needles)


def _train(tmp_path, *args, modality="vision"):
    """``avsnn train --profile smoke`` into ``tmp_path/runs``; the argv ``args`` added."""
    return main(["train", "--modality", modality, "--profile", "smoke", "--runs", str(tmp_path / "runs"), *args])


# ---- 1. sizes that cannot fit in memory ---------------------------------------------------------------
def test_width_that_cannot_fit_is_refused_before_anything_is_written(tmp_path, capsys):
    rc = _train(tmp_path, "--set", "width=100000")
    _refused(capsys, rc, "width=100000", "the vision network needs at least", "GiB free on")
    assert not (tmp_path / "runs").exists()


def test_sizes_too_large_to_address_are_refused(tmp_path, capsys):
    _refused(capsys, _train(tmp_path, "--set", "width=1000000000"), "width=1000000000", "too large to be built")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("modality", ["vision", "audio", "fusion"])
def test_memory_estimate_counts_the_parameters_without_allocating(modality):
    cfg = make_config(modality, "smoke")
    est = estimate_memory(cfg)
    if modality != "fusion":  # the real network has exactly the parameters the meta one has
        assert est.params == sum(p.numel() for p in build_model(cfg, preflight_mod.NUM_CLASSES).parameters())
    assert est.activations > 0 and est.bytes > 4 * est.params
    bigger = estimate_memory(cfg.replace(batch_size=2 * cfg.batch_size))
    assert bigger.params == est.params and bigger.activations == 2 * est.activations


def test_check_memory_names_the_size_fields(monkeypatch):
    cfg = make_config("audio", "smoke")
    check_memory(cfg, "cpu")  # fits
    monkeypatch.setattr(preflight_mod, "available_memory", lambda device: 1000)
    with pytest.raises(ValueError, match=r"^audio_channels=\(4, 8, 8\), n_mels=64, .*batch_size=16, timesteps=4: "):
        check_memory(cfg, "cpu")


def test_available_memory(monkeypatch):
    free = device_mod.available_memory("cpu")
    assert free is None or 0 < free
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (123, 456))
    assert device_mod.available_memory("cuda") == 123  # the free part


def test_a_network_the_constructor_rejects_is_refused_before_the_run_folder(tmp_path, capsys):
    rc = _train(tmp_path, "--set", "hop_length=100000", modality="audio")
    _refused(capsys, rc, "n_frames=1 must be >= 8")
    assert not (tmp_path / "runs").exists()


# ---- 2. audio clips shorter than the FFT window -----------------------------------------------------
def test_clip_shorter_than_the_fft_window_is_refused(tmp_path, capsys):
    rc = _train(tmp_path, "--set", "duration_s=0.001", modality="audio")
    _refused(capsys, rc, "duration_s=0.001 gives 16 samples", "n_fft=512", "expected duration_s >= 0.032")
    assert not (tmp_path / "runs").exists()
    AudioConfig(duration_s=0.032)  # exactly one window
    with pytest.raises(ValueError, match=r"n_mels=300 exceeds the 257 frequency bins of n_fft=512"):
        AudioConfig(n_mels=300)


# ---- 3. config relations ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "override, message",
    [
        ("incorrect_rate=0.95", "incorrect_rate must be below correct_rate"),
        ("incorrect_rate=0.85", "incorrect_rate=0.85, correct_rate=0.85"),
        ("seed=-1", "seed must be an integer >= 0, got -1"),
        ("split_seed=-2", "split_seed must be an integer >= 0, got -2"),
    ],
)
def test_config_relations_are_checked(override, message):
    with pytest.raises(ValueError, match=message):
        make_config("audio", "smoke", overrides=[override])  # audio: correct_rate 0.85


def test_rates_the_wrong_way_round_on_the_command_line(tmp_path, capsys):
    rc = _train(tmp_path, "--set", "incorrect_rate=0.95", modality="audio")
    _refused(capsys, rc, "incorrect_rate must be below correct_rate", "incorrect_rate=0.95, correct_rate=0.85")
    assert not (tmp_path / "runs").exists()


# ---- 4. non-finite chapter parameters ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "nan", "Infinity"])
def test_non_finite_chapter_parameter_is_refused(tmp_path, capsys, value):
    out = tmp_path / "out"
    rc = main(["chapter", "run", str(LIF_CHAPTER), "-p", "current", value, "-o", str(out), "--quiet"])
    _refused(capsys, rc, f"chapter parameter current must be a finite number, got {float(value)}")
    assert not out.exists()


# ---- 5. output paths checked before any work ------------------------------------------------------
def test_chapter_output_folder_that_is_a_file(tmp_path, capsys):
    out = tmp_path / "afile"
    out.write_text("keep me")
    rc = main(["chapter", "run", str(LIF_CHAPTER), "-o", str(out), "--quiet"])
    _refused(capsys, rc, f"output folder (-o) {out} exists and is not a folder")
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_bench_output_is_checked_before_timing(tmp_path, capsys, monkeypatch, where):
    import avsnn.bench.timing as bench_timing

    monkeypatch.setattr(bench_timing, "run_bench", lambda *a, **k: pytest.fail("benchmarked before checking --out"))
    (tmp_path / "afile").write_text("")
    out, message = {
        "under_a_file": (tmp_path / "afile" / "x.json", f"{tmp_path / 'afile'} is a file, expected a folder"),
        "a_folder": (tmp_path, "is an existing folder, expected a file name"),
    }[where]
    rc = main(["bench", "--out", str(out), "--device", "cpu", "--data", "none"])
    _refused(capsys, rc, f"--out {out}", message)


def test_bench_writes_its_json_into_a_new_folder(tmp_path, capsys, monkeypatch):
    import avsnn.bench.table as bench_table
    import avsnn.bench.timing as bench_timing

    monkeypatch.setattr(bench_timing, "run_bench", lambda *a, **k: {"rows": []})
    monkeypatch.setattr(bench_table, "format_table", lambda res: "table")
    out = tmp_path / "new" / "bench.json"
    assert main(["bench", "--out", str(out), "--device", "cpu", "--data", "none"]) == 0
    assert out.read_text().strip() == '{\n  "rows": []\n}'


def test_data_and_run_store_outputs_that_are_files(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    _refused(capsys, main(["data", "make-synthetic", "--out", str(afile)]), f"--out {afile} exists and is not a folder")
    rc = main(["data", "make-avdigits", "--out", str(afile / "av")])
    _refused(capsys, rc, f"{afile} is a file, expected a folder")
    rc = main(["train", "--modality", "vision", "--profile", "smoke", "--runs", str(afile)])
    _refused(capsys, rc, "run store (--runs or $AVSNN_RUNS)", "exists and is not a folder")


def test_output_checks(tmp_path, monkeypatch):
    assert check_output_folder(tmp_path / "a" / "b", "-o") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # nothing is created
    assert check_output_file(tmp_path / "a" / "x.json", "--out") == tmp_path / "a" / "x.json"
    monkeypatch.setattr(files_mod.os, "access", lambda path, mode: False)  # a read-only folder, even for root
    with pytest.raises(ValueError, match=f"^-o {tmp_path / 'a' / 'b'}: cannot write {tmp_path}: Permission denied"):
        check_output_folder(tmp_path / "a" / "b", "-o")
    with pytest.raises(ValueError, match="cannot write"):
        check_output_file(tmp_path / "x.json", "--out")


# ---- 6. the data argument and unknown keys, checked before printing or writing ---------------------
def test_mistyped_dataset_name(tmp_path, capsys):
    rc = _train(tmp_path, "--data", "avdigts")
    _refused(capsys, rc, "dataset folder not found", "did you mean 'avdigits'?")
    assert not (tmp_path / "runs").exists()


def test_mistyped_dataset_folder_names_its_neighbour(tmp_path):
    (tmp_path / "AVDigits_noisy").mkdir()
    with pytest.raises(FileNotFoundError, match=f"did you mean '{tmp_path / 'AVDigits_noisy'}'"):
        check_data_source(str(tmp_path / "AVDigits_nosy"))
    with pytest.raises(FileNotFoundError, match="dataset folder not found; data must be .*inside$"):
        check_data_source(str(tmp_path / "zzz"))


@pytest.mark.parametrize(
    "override, hint",
    [("learning_rate=1e-3", "'lr'"), ("widht=8", "'width'"), ("LR=1", "'lr'"), ("num_epochs=2", "'epochs'")],
)
def test_unknown_key_names_the_nearest(tmp_path, capsys, override, hint):
    line = _refused(capsys, _train(tmp_path, "--set", override), f"did you mean {hint}?")
    assert "expected one of" not in line  # not the list of every key
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "modality, override, message",
    [
        ("audio", "width=32", "width is not used by audio runs (only by vision runs)"),
        ("vision", "n_mels=32", "n_mels is not used by vision runs (only by audio runs)"),
        ("vision", "hidden=64", "hidden is not used by vision runs (only by fusion runs)"),
        ("fusion", "width=32", "width is not used by fusion runs (only by vision runs); did you mean vision.width?"),
        ("fusion", "audio.width=32", "width is not used by audio runs"),
    ],
)
def test_a_key_the_run_ignores_is_refused(tmp_path, capsys, modality, override, message):
    _refused(capsys, _train(tmp_path, "--set", override, modality=modality), message)
    assert not (tmp_path / "runs").exists()


def test_bench_data_is_checked_before_timing(capsys, monkeypatch):
    import avsnn.bench.timing as bench_timing

    monkeypatch.setattr(bench_timing, "run_bench", lambda *a, **k: pytest.fail("benchmarked before checking --data"))
    _refused(capsys, main(["bench", "--data", "avdigts", "--device", "cpu"]), "did you mean 'avdigits'?")


def test_did_you_mean():
    assert did_you_mean("avdigts", ["synthetic", "avdigits"]) == "; did you mean 'avdigits'?"
    assert did_you_mean("zzz", ["synthetic", "avdigits"]) == ""
    assert did_you_mean("lerning_rate", ["lr", "sample_rate"], {"learning_rate": "lr"}) == "; did you mean 'lr'?"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "lr=1"], "--set lr: avsnn baseline --modality both does not use it"),
        (["--modality", "vision", "--set", "n_mels=32"], "--set n_mels: avsnn baseline --modality vision"),
        (["--set", "per_clas=3"], "did you mean 'per_class'?"),
    ],
)
def test_baseline_refuses_what_it_ignores(capsys, monkeypatch, argv, message):
    import avsnn.train as train_pkg

    monkeypatch.setattr(train_pkg, "load_datasets", lambda cfg: pytest.fail("loaded data before the check"))
    _refused(capsys, main(["baseline", *argv]), message)


# ---- 7. no home folder, no AVSNN_CACHE and no writable checkout -------------------------------------
@pytest.fixture
def not_in_a_checkout(monkeypatch):
    """The package as installed from a wheel: no checkout cache to fall back on."""
    import avsnn.data._util as util

    monkeypatch.setattr(util, "checkout_cache_dir", lambda: None)


def test_no_home_folder_asks_for_avsnn_cache(tmp_path, capsys, monkeypatch, not_in_a_checkout):
    monkeypatch.delenv("AVSNN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    rc = _train(tmp_path)
    _refused(capsys, rc, f"the home folder {tmp_path / 'nohome'} does not exist", "set AVSNN_CACHE")
    assert not (tmp_path / "runs").exists()


def test_no_home_known_asks_for_avsnn_cache(monkeypatch, not_in_a_checkout):
    import pwd

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.delenv("AVSNN_CACHE")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(ValueError, match="no home folder is known; set AVSNN_CACHE to a writable folder"):
        default_cache_dir()


# ---- 8. one C++ kernel build folder per checkout ----------------------------------------------------
def test_cpp_build_key_follows_the_checkout(tmp_path, monkeypatch):
    from avsnn.core.kernels import cpp as fused

    key = fused.cpp_build_key()
    other = tmp_path / "other_checkout" / fused.SOURCE.name
    other.parent.mkdir()
    shutil.copy(fused.SOURCE, other)  # the same source text in another checkout
    monkeypatch.setattr(fused, "SOURCE", other)
    assert fused.cpp_build_key() != key
    assert fused.cpp_build_key() == fused.cpp_build_key()
