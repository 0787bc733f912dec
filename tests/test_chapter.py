"""The papermill chapter runner: parameters are checked, and a new value changes the output."""

import json
from pathlib import Path

import pytest

from avsnn.cli import main
from avsnn.tools.chapter import chapter_parameters, check_parameters, read_chapter, resolve_parameters, run_chapter

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
    with pytest.raises(ValueError, match="chapter parameter seed expects an integer, got 'three'"):
        resolve_parameters(nb, {"seed": "three"})
    with pytest.raises(ValueError, match="chapter parameter noise expects a number or none, got 'loud'"):
        resolve_parameters(nb, {"noise": "loud"})
    assert resolve_parameters(nb, {"seed": "3", "beta_low": "1"}) == {"seed": 3, "beta_low": 1.0}


def test_data_parameter_takes_the_dataset_names_and_the_old_one(tmp_path):
    assert check_parameters({"data": "synthetic"})["data"] == "synthetic"
    assert check_parameters({"data": "embedded"})["data"] == "synthetic"  # the synthetic set's first name
    assert check_parameters({"data": str(tmp_path)})["data"] == str(tmp_path.resolve())
    with pytest.raises(FileNotFoundError, match="expected 'avdigits', 'synthetic' or a dataset folder"):
        check_parameters({"data": str(tmp_path / "nope")})


# (RunConfig field, a chapter-only parameter with a default of the same kind, spelling, value)
SPELLINGS = [
    ("truncate_targets", "flag = False", "true", True),
    ("truncate_targets", "flag = False", "FALSE", False),
    ("amp", "flag = True", "off", False),
    ("per_class", "count = 30", "none", None),
    ("per_class", "count = 30", "12", 12),
    ("lr", "rate = 0.01", "1e-3", 0.001),
    ("lr", "rate = 0.01", "2", 2.0),
    ("milestones", "epochs_at = (1, 2)", "5,8", (5, 8)),
    ("milestones", "epochs_at = (1, 2)", "[5, 8]", (5, 8)),
]


@pytest.mark.parametrize("field, twin, spelling, value", SPELLINGS)
def test_config_fields_and_other_parameters_parse_the_same_spellings(field, twin, spelling, value):
    """One parser: a chapter parameter reads a value as a config override of the same kind does."""
    import nbformat

    from avsnn.train.config import RunConfig, parse_value

    name = twin.split(" = ")[0]
    source = f"{field} = {getattr(RunConfig(), field)!r}\n{twin}\n"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})])
    parsed = resolve_parameters(nb, {field: spelling, name: spelling})
    assert parsed == {field: value, name: value} and parse_value(field, spelling) == value
    assert type(parsed[name]) is type(value)


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


def test_ablation_chapter_defaults_are_the_intro_table_s():
    """Chapter 09's default size and seeds are the ones the intro's claims table decides the ablation on."""
    from avsnn import studies

    ablation = chapter_parameters(read_chapter(ROOT / "book" / "09_ablation.md"))
    intro = chapter_parameters(read_chapter(ROOT / "book" / "intro.md"))
    assert ablation["profile"] == intro["ablation_profile"] == studies.ABLATION_PROFILE
    assert tuple(ablation["seeds"]) == tuple(intro["ablation_seeds"]) == studies.ABLATION_SEEDS


def test_robustness_chapter_defaults_are_the_intro_claim_s():
    """Chapter 7c's default sweep is the one the intro's robustness claim is decided on."""
    from avsnn import robustness

    params = chapter_parameters(read_chapter(ROOT / "book" / "07c_robustness.md"))
    intro = chapter_parameters(read_chapter(ROOT / "book" / "intro.md"))
    assert (params["data"], params["profile"], params["seeds"]) == (intro["data"], intro["profile"], intro["seeds"])
    assert tuple(params["snr_db"]) == robustness.SNR_DB
    assert tuple(params["image_noise"]) == robustness.IMAGE_NOISE
    assert tuple(params["occlusion"]) == robustness.OCCLUSION


@pytest.mark.parametrize("chapter", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "book").glob("*.md")))
def test_papermill_reads_every_parameter_of_every_chapter(chapter):
    """Plain papermill (`papermill -p name value`) sees each parameter the chapter declares, as `chapter run` does."""
    from papermill.translators import PythonTranslator

    nb = read_chapter(Path(__file__).resolve().parents[1] / "book" / chapter)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        pytest.skip("no parameters")
    assert {p.name for p in PythonTranslator.inspect(cells[0])} == set(chapter_parameters(nb))


def test_every_golden_runs_its_networks_at_the_smoke_size():
    """A golden re-executed by nbval trains only smoke-size networks: every profile parameter is set to smoke."""
    from avsnn.tools.goldens import smoke_parameters

    for chapter in sorted((ROOT / "book").glob("*.md")):
        params = chapter_parameters(read_chapter(chapter))
        smoke = smoke_parameters(chapter)
        for name in params:
            if "profile" in name:
                assert smoke.get(name) == "smoke", f"{chapter.name}: golden leaves {name}={params[name]!r}"
