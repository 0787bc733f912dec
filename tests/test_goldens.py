"""The golden notebooks are up to date with their chapters, and nbval really compares them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avsnn.tools.chapter import source_digest
from avsnn.tools.goldens import smoke_parameters

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.md")) + [ROOT / "book" / "intro.md"]
GOLDENS = ROOT / "tests" / "goldens"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_golden_is_current(chapter):
    golden = GOLDENS / f"{chapter.stem}.ipynb"
    assert golden.exists(), f"no golden for {chapter.name}: run `make goldens`"
    meta = json.loads(golden.read_text())["metadata"]["avsnn"]
    assert meta["source_sha256"] == source_digest(chapter), (
        f"{golden.name} is out of date with {chapter.name}: run `make goldens`"
    )
    assert meta["parameters"] == smoke_parameters(chapter)


def test_no_golden_without_chapter():
    stems = {c.stem for c in CHAPTERS}
    orphans = [g.name for g in GOLDENS.glob("*.ipynb") if g.stem not in stems]
    assert not orphans, f"goldens without a chapter: {orphans}"


def test_nbval_fails_on_a_hand_edited_golden(tmp_path):
    """Edit one printed output of the LIF golden: nbval must report a mismatch."""
    golden = json.loads((GOLDENS / "01_lif_neuron.ipynb").read_text())
    edited = False
    for cell in golden["cells"]:
        for out in cell.get("outputs", []):
            if out.get("name") == "stdout" and "spikes in" in "".join(out["text"]):
                out["text"] = ["beta=0.50: 999 spikes in 60 steps, mean membrane 0.000\n"]
                edited = True
    assert edited, "the LIF golden has no spike-count output to edit"
    (tmp_path / "edited.ipynb").write_text(json.dumps(golden))
    shutil.copy(GOLDENS / "sanitize.cfg", tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        str(tmp_path / "edited.ipynb"),
        "-p",
        "no:cacheprovider",
        "--nbval-sanitize-with",
        str(tmp_path / "sanitize.cfg"),
        "-q",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "999 spikes" in result.stdout and "failed" in result.stdout
