"""A newcomer's first commands: fast ``--help`` that names the datasets, labelled ``train`` and ``show`` output,
``chapter params`` with each parameter's comment, the kernel-compile notice, a chapter run and the book's
kernels without the kernel's TCP warning."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

from avsnn.cli import main
from avsnn.train import make_config, summary

ROOT = Path(__file__).resolve().parents[1]
HELPS = ("", "train", "show", "data", "data inspect", "chapter", "chapter run", "bench", "baseline")
HEAVY = ("torch", "sklearn", "scipy.signal", "papermill", "jupytext")


def test_help_imports_no_torch_nor_scikit_learn():
    script = f"""
import sys
import avsnn
from avsnn.cli import main
for cmd in {HELPS!r}:
    try:
        main([*cmd.split(), "--help"])
    except SystemExit:
        pass
print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
print("LIF", avsnn.LIF.__name__, "torch" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout, r.stdout[-500:]
    assert "LIF LIF True" in r.stdout  # the public names still work, importing torch when used


def test_lazy_package_names_and_submodules():
    import avsnn
    import avsnn.core.surrogate
    import avsnn.data
    import avsnn.surrogate
    import avsnn.train

    assert avsnn.surrogate is avsnn.core.surrogate and avsnn.LIF is avsnn.core.LIF
    assert avsnn.train.make_config is make_config and avsnn.data.paired.__name__ == "avsnn.data.paired"
    assert {"LIF", "L2Classifier"} <= set(dir(avsnn))
    with pytest.raises(AttributeError):
        _ = avsnn.train.no_such_name


def test_help_names_each_dataset_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "avdigits (AV-Digits, the book's default)" in out
    assert "synthetic (the synthetic set, the default of this command; embedded is accepted for it)" in out


# ---- show ------------------------------------------------------------------------------------------------
def _fake_run(root: Path, key: str, config_hash: str, accuracy: float = 0.1666666716337204) -> Path:
    run = root / key
    run.mkdir(parents=True)
    cfg = {"modality": "vision", "profile": "smoke", "lr": 0.01, "run_key": key, "config_hash": config_hash}
    (run / "config.json").write_text(json.dumps(cfg))
    metrics = {
        "test_accuracy": accuracy,
        "train_accuracy": 0.5,
        "epochs": 2,
        "train_seconds": 125.96910185099978,
        "classes": [str(i) for i in range(10)],
        "config_hash": config_hash,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    history = [{"epoch": e, "loss": 1.0 / e, "train_accuracy": 0.25 * e, "lr": 0.01, "seconds": 60.0} for e in (1, 2)]
    (run / "history.json").write_text(json.dumps(history))
    return run


def test_show_rounds_metrics_prints_config_history_and_chance(tmp_path, capsys):
    run = _fake_run(tmp_path, "5af43d4fc08b", "48508ac88672")
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test_accuracy     16.7 % (chance 10.0 %, 10 classes)" in out
    assert "train_seconds     126.0 s" in out and "0.1666666" not in out
    assert "  lr = 0.01" in out  # the config, key = value
    table = out.split("history\n", 1)[1].splitlines()
    assert table[0].split() == ["epoch", "loss", "train", "acc", "lr", "seconds"]
    assert table[2].split() == ["2", "0.5000", "50.0", "%", "1.00e-02", "60.0"]


def test_show_takes_a_unique_prefix_and_lists_an_ambiguous_one(tmp_path, capsys):
    a = _fake_run(tmp_path, "5af43d4fc08b", "48508ac88672")
    _fake_run(tmp_path, "5a0000000000", "1111aaaa2222")
    assert main(["show", "5af4", "--runs", str(tmp_path)]) == 0
    assert f"run {a}" in capsys.readouterr().out
    assert main(["show", "4850", "--runs", str(tmp_path)]) == 0  # a prefix of a config hash
    assert f"run {a}" in capsys.readouterr().out
    assert main(["show", "5a", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ambiguous" in err[0]
    assert "5af43d4fc08b (config 48508ac88672)" in err[0] and "5a0000000000 (config 1111aaaa2222)" in err[0]
    assert main(["show", "zz", "--runs", str(tmp_path)]) == 2
    assert "starts with 'zz'" in capsys.readouterr().err


# ---- train's summary ---------------------------------------------------------------------------------------
def test_train_summary_labels_what_it_prints(tmp_path, monkeypatch):
    cfg = make_config("vision", "smoke")
    run = SimpleNamespace(
        config=cfg,
        path=tmp_path / "5af43d4fc08b",
        metrics={"test_accuracy": 0.1667, "classes": list("abcdef"), "train_seconds": 12.34, "epochs": 6},
    )
    monkeypatch.setattr(summary, "lif_backend", lambda device, requested: "cpp")
    text = summary.format_train_result(run, summary.TRAINED, device="cpu")
    lines = text.splitlines()
    assert lines[0].startswith(f"config hash    {cfg.hash()} (vision, profile smoke")
    assert "run key        5af43d4fc08b" in lines
    assert "status         trained now on cpu, LIF backend cpp" in lines
    assert "test accuracy  16.7 % (chance 16.7 %, 6 classes)" in lines
    assert lines[-1] == str(run.path)  # the folder alone on the last line, for scripts
    found = summary.format_train_result(run, summary.FOUND, device="cpu")
    assert "status         found finished in the run store" in found.splitlines()
    run.metrics["lif_backend"] = "torch"  # the run's record names the backend that ran
    assert (
        "status         trained now on cpu, LIF backend torch"
        in summary.format_train_result(run, summary.TRAINED, device="cpu").splitlines()
    )


def test_store_state_before_training(tmp_path):
    from avsnn.train.store import RunStore

    store = RunStore(make_config("vision", "smoke"), tmp_path)
    assert summary.store_state(store) == (summary.TRAINED, "")
    store.path.mkdir(parents=True)
    (store.path / RunStore.CHECKPOINT).write_bytes(b"x")
    (store.path / RunStore.HISTORY).write_text(json.dumps([{"epoch": 1}, {"epoch": 2}]))
    assert summary.store_state(store) == (summary.RESUMED, "after epoch 2")


# ---- chapter params ------------------------------------------------------------------------------------------
def test_chapter_params_shows_each_comment(capsys):
    assert main(["chapter", "params", str(ROOT / "book" / "01_lif_neuron.md")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("#")[0].strip() == "beta_low = 0.5" and out[0].endswith("# a fast-leaking neuron")


def test_parameter_comments_of_wrapped_and_continued_lines():
    from avsnn.tools.chapter import format_parameters, parameter_comments

    source = (
        'data = (\n    "avdigits"  # the data\n)\n'
        "seeds = [\n    0,\n]  # one run per seed\n# and a second line\nn = 3\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})])
    assert parameter_comments(nb) == {"data": "the data", "seeds": "one run per seed and a second line", "n": ""}
    assert format_parameters(nb).splitlines() == [
        'data = "avdigits"  # the data',
        "seeds = [0]        # one run per seed and a second line",
        "n = 3",
    ]


# ---- the CPU kernel's compile notice ------------------------------------------------------------------------
def test_compiling_the_cpu_kernel_says_so_once(monkeypatch, capsys):
    import torch.utils.cpp_extension

    from avsnn.core.kernels import cpp

    monkeypatch.setattr(torch.utils.cpp_extension, "load", lambda **kw: "module")
    monkeypatch.setattr(cpp, "is_built", lambda: False)
    assert cpp._build() == "module"
    assert capsys.readouterr().err.splitlines().count(cpp.COMPILE_NOTICE) == 1
    monkeypatch.setattr(cpp, "is_built", lambda: True)
    assert cpp._build() == "module"
    assert cpp.COMPILE_NOTICE not in capsys.readouterr().err


# ---- a chapter run's kernel ---------------------------------------------------------------------------------
TINY = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

```{code-cell} ipython3
:tags: [parameters]

x = 1  # a number
```

```{code-cell} ipython3
print(x + 1)
```
"""


def test_chapter_run_has_no_kernel_transport_warning(tmp_path, capfd):
    chapter = tmp_path / "tiny.md"
    chapter.write_text(TINY)
    assert main(["chapter", "run", str(chapter), "-p", "x", "5", "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert "without encryption" not in capfd.readouterr().err
    out = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == "6"


def _load_kernel_transport():
    spec = importlib.util.spec_from_file_location("kernel_transport", ROOT / "book" / "_ext" / "kernel_transport.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_book_kernels_have_no_kernel_transport_warning(tmp_path, capfd, monkeypatch):
    """make book: _config.yml loads book/_ext/kernel_transport.py, whose kernels start without the warning."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["kernel_transport"] == "book/_ext"
    ext = _load_kernel_transport()
    for module in ext.EXECUTORS:  # undone after the test
        monkeypatch.setattr(module, "single_nb_execution", module.single_nb_execution)
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells.append(nbformat.v4.new_code_cell("print(1 + 1)"))

    def run():
        done = nbformat.reads(nbformat.writes(nb), as_version=4)
        result = ext.cache.single_nb_execution(done, cwd=str(tmp_path), timeout=120, allow_errors=False)
        assert result.err is None and done.cells[0].outputs[0]["text"].strip() == "2"
        return capfd.readouterr().err

    if "without encryption" not in run():
        pytest.skip("this ipykernel does not warn about TCP transport")
    ext.setup(None)
    ext.setup(None)  # once per process is enough, twice does no harm
    assert all(m.single_nb_execution.__wrapped__.__module__ == "jupyter_cache.executors.utils" for m in ext.EXECUTORS)
    assert "without encryption" not in run()


# ---- the book's parameters cells -----------------------------------------------------------------------------
@pytest.mark.parametrize("chapter", sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.stem)
def test_no_cell_uses_a_parameter_before_the_parameters_cell(chapter):
    import ast

    from avsnn.tools.chapter import chapter_parameters, parameters_cell, read_chapter

    nb = read_chapter(chapter)
    names, cell = set(chapter_parameters(nb)), parameters_cell(nb)
    for earlier in nb.cells[: nb.cells.index(cell)]:
        if earlier.cell_type == "code":
            used = {n.id for n in ast.walk(ast.parse(earlier.source)) if isinstance(n, ast.Name)}
            assert not used & names, (chapter.name, sorted(used & names))
