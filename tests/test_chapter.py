"""The papermill chapter runner: parameters are checked, and a new value changes the output."""
import json
from pathlib import Path

import pytest

from avsnn.chapter import chapter_parameters, read_chapter, resolve_parameters, run_chapter
from avsnn.cli import main

ROOT = Path(__file__).resolve().parent.parent
LIF = ROOT / "book" / "01_lif_neuron.md"


def _stdout(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    return ["".join(o["text"]) for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout"]


def test_parameters_cell_is_read():
    params = chapter_parameters(read_chapter(LIF))
    assert params["seed"] == 0 and params["beta_high"] == 0.9


def test_unknown_and_mistyped_parameters_are_rejected():
    nb = read_chapter(LIF)
    with pytest.raises(ValueError, match="unknown parameter.*'sead'"):
        resolve_parameters(nb, {"sead": "3"})
    with pytest.raises(ValueError, match="'seed' expects a int"):
        resolve_parameters(nb, {"seed": "three"})
    assert resolve_parameters(nb, {"seed": "3", "beta_low": "1"}) == {"seed": 3, "beta_low": 1.0}


def test_missing_chapter_is_a_clear_error(capsys):
    assert main(["chapter", "run", "book/no_such_chapter.md", "-o", "x"]) == 2
    assert "no_such_chapter.md does not exist" in capsys.readouterr().err


def test_rerun_with_a_new_seed_changes_the_output(tmp_path):
    out = run_chapter(LIF, {"seed": 3, "noise": 0.5}, tmp_path, progress=False)
    assert out == tmp_path / "01_lif_neuron.ipynb"
    meta = json.loads(out.read_text())["metadata"]["avsnn"]
    assert meta["parameters"] == {"seed": 3, "noise": 0.5}
    golden = _stdout(ROOT / "tests" / "goldens" / "01_lif_neuron.ipynb")
    rerun = _stdout(out)
    assert any("spikes in 60 steps" in s for s in rerun)
    assert rerun != golden
    assert not list(tmp_path.glob("*.partial.ipynb"))
