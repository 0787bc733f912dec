"""The GPU book's CPU side (issue #29): the ``gpu`` profile, the book selection and its injected parameters,
several runs at once on one device, small training sets kept on the device, and the recorded GPU build the
CPU book's intro shows (absent, current, stale, malformed)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import types
from pathlib import Path

import nbformat
import pytest
import torch
from fixtures import write_release_fixture

from avsnn.data import build_datasets
from avsnn.data.batching import ArrayData, resident
from avsnn.evidence import compare
from avsnn.studies import arm, claims_table, provenance, train_all
from avsnn.studies.arms import CUDA_WORKERS, worker_count
from avsnn.studies.claims import Claim
from avsnn.tools import book
from avsnn.tools.chapter import chapter_parameters, check_parameters, read_chapter
from avsnn.train import RunStore, make_config
from avsnn.train.profiles import AUDIO_LEARNED, AUDIO_LOSS, AUDIO_RECIPE

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("*.md"))


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the gpu profile -------------------------------------------------------------------------------
def test_gpu_profile_is_the_papers_networks_with_the_default_recipe():
    v, a, f = (make_config(m, "gpu", "avdigits") for m in ("vision", "audio", "fusion"))
    assert (v.width, v.timesteps, v.image_size, v.batch_size, v.variant) == (64, 8, 32, 128, "act_after_add")
    assert (a.audio_channels, a.timesteps) == (make_config("audio", "paper").audio_channels, 4)
    assert (f.hidden, f.timesteps) == ((512,), 8)
    assert v.amp and a.amp and v.channels_last is None  # bf16 autocast; channels-last is on by itself on CUDA
    for modality, cfg in (("vision", v), ("audio", a), ("fusion", f)):
        default = make_config(modality, "default", "avdigits")
        recipe = (
            "input_norm",
            "val_frac",
            "patience",
            "warmup_epochs",
            "schedule",
            "lr",
            "per_class",
            "beta",
            "epochs",
        )
        recipe += ("threshold", "zero_init_residual", "image_norm") if modality == "vision" else ()
        recipe += (*AUDIO_RECIPE, *AUDIO_LEARNED, *AUDIO_LOSS, "min_steps") if modality == "audio" else ()
        assert [getattr(cfg, k) for k in recipe] == [getattr(default, k) for k in recipe], modality
    # the fusion reads the gpu profile's unimodal runs
    assert f.sub_configs["vision"].hash() == v.hash() and f.sub_configs["audio"].hash() == a.hash()


def test_the_other_profiles_keep_their_config_hashes():
    # the default profile as of the round-10 audio recipe (#30: clip_stats, head_threshold, min_steps; round 7's
    # whole-spike targets taken out again; learnt decay rates and thresholds; round 13's loss, Eq. 15 plus the twin's);
    # the gpu profile's fields (image_size, amp) do not enter these hashes
    pinned = {"vision": "d0c935edfb33", "audio": "f55862152f4d", "fusion": "c37216e17ce0"}
    assert {m: make_config(m, "default", "avdigits").hash() for m in pinned} == pinned
    assert "image_size" not in make_config("vision", "default").canonical()  # off: not hashed


def test_image_size_reads_the_images_at_that_side(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    data = write_release_fixture(tmp_path / "rel", per_class=3)  # 32x32 images
    stored, _ = build_datasets(str(data), modality="vision")
    upscaled, test = build_datasets(str(data), modality="vision", image_size=48)
    assert stored.images.shape[-2:] == (32, 32) and upscaled.images.shape[-2:] == test.images.shape[-2:] == (48, 48)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        make_config("vision", "gpu", overrides={"image_size": 0})
    with pytest.raises(ValueError, match="image_size is not used by audio runs"):
        make_config("audio", "gpu", overrides={"image_size": 32})


# ---- which book a build makes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cuda", "expected"),
    [(None, True, "gpu"), (None, False, "default"), ("auto", True, "gpu"), ("default", True, "default")]
    + [("GPU", False, "gpu"), (" ", True, "gpu")],
)
def test_book_profile_is_gpu_on_cuda_unless_the_variable_says_otherwise(value, cuda, expected):
    environ = {} if value is None else {book.VARIABLE: value}
    assert book.book_profile(environ, cuda_available=cuda) == expected


def test_book_profile_auto_asks_torch_and_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert book.book_profile({}) == "gpu"
    with pytest.raises(ValueError, match=r"AVSNN_BOOK_PROFILE='cpu': expected one of \['auto', 'default', 'gpu'\]"):
        book.book_profile({book.VARIABLE: "cpu"})


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_the_gpu_book_gives_every_chapter_valid_values_and_five_seeds(chapter):
    nb = read_chapter(chapter)
    params = chapter_parameters(nb)
    values = book.book_parameters(nb, chapter.name, "gpu")
    assert book.book_parameters(nb, chapter.name, "default") == {}
    check_parameters({**params, **values})  # what the chapter runner would accept
    for name in params:
        if "seeds" in name:
            assert len(values[name]) >= 5, f"{chapter.name}: {name} keeps {params[name]}"
        if "profile" in name and chapter.stem not in book.GPU_BOOK_CHAPTERS:
            assert values[name] == "gpu", f"{chapter.name}: {name} stays {params[name]!r}"
    if chapter.stem == "11_performance":  # the benchmark at the paper's size (width 64, T=8, batch 128)
        assert values == {"profile": "paper"}


def test_injected_cell_follows_the_parameters_cell_and_sets_the_values():
    nb = read_chapter(ROOT / "book" / "intro.md")
    out = book.prepare_chapter(nb, "intro.md", "gpu")
    tags = [c.metadata.get("tags", []) for c in out.cells]
    at = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert tags[at + 1] == [book.TAG] and len(out.cells) == len(nb.cells) + 1
    scope: dict = {}
    exec(out.cells[at].source + "\n" + out.cells[at + 1].source, scope)  # noqa: S102  (the chapter's own cells)
    assert {k: scope[k] for k in book.GPU_BOOK} == book.GPU_BOOK
    assert all(len(line) <= 88 for line in out.cells[at + 1].source.splitlines())
    nbformat.validate(out)
    assert book.prepare_chapter(nb, "intro.md", "default") is nb
    assert book.prepare_chapter(read_chapter(ROOT / "book" / "12_recipe.md"), "12_recipe.md", "gpu").cells


def test_book_extension_wraps_the_reader_only_for_the_gpu_book(monkeypatch):
    from myst_nb import sphinx_
    from myst_nb.core.read import NbReader

    ext = _load(ROOT / "book" / "_ext" / "book_profile.py", "book_profile_ext")
    intro = ROOT / "book" / "intro.md"

    def create(path, md_config, nb_config, content):
        return None if path.endswith(".txt") else NbReader(lambda text: read_chapter(intro), md_config)

    wrapped = ext.with_book_parameters(create, "gpu")
    assert ext.with_book_parameters(wrapped, "gpu") is wrapped
    nb = wrapped(str(intro), None, None, "").read("")
    assert any(book.TAG in c.metadata.get("tags", []) for c in nb.cells)
    assert wrapped("notes.txt", None, None, "") is None
    original = sphinx_.create_nb_reader
    monkeypatch.setenv(book.VARIABLE, "default")
    app = types.SimpleNamespace(add_config_value=lambda *args: None)
    ext.setup(app)
    assert sphinx_.create_nb_reader is original
    monkeypatch.setenv(book.VARIABLE, "gpu")
    monkeypatch.setattr(sphinx_, "create_nb_reader", original)  # restored after the test
    ext.setup(app)
    assert sphinx_.create_nb_reader.avsnn_book_profile == "gpu"


CHAPTER = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# One chapter

```{code-cell} ipython3
:tags: [parameters]

profile = "default"
seeds = [0, 1]
```

```{code-cell} ipython3
print(f"ran with profile {profile} over {len(seeds)} seeds")
```
"""


def _build_book(src: Path, profile: str) -> str:
    import subprocess
    import sys

    import yaml

    env = {**__import__("os").environ, book.VARIABLE: profile, "PYTHONPATH": str(ROOT)}
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run(
        [str(jupyter_book), "build", str(src), "--warningiserror", "--builder", "html"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert yaml.safe_load((src / "_config.yml").read_text())["execute"]["execute_notebooks"] == "cache"
    return (src / "_build" / "html" / "index.html").read_text()


def test_a_book_build_runs_the_chapter_with_the_selected_books_parameters(tmp_path):
    """Through jupyter-book with the project's _config.yml: the GPU book executes (and shows) the injected values;
    the CPU book, built after it into the same execution cache, runs the chapter's own again."""
    import shutil

    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", tmp_path / "book" / "_ext")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (tmp_path / "index.md").write_text(CHAPTER)
    gpu = _build_book(tmp_path, "gpu")
    assert "ran with profile gpu over 5 seeds" in gpu and "the gpu book" in gpu
    cpu = _build_book(tmp_path, "default")
    assert "ran with profile default over 2 seeds" in cpu and "the gpu book" not in cpu


# ---- several runs at once; small sets on the device -----------------------------------------------
def test_worker_count():
    assert worker_count("cpu", 10, cpus=2) == 2 and worker_count("cpu", 10, cpus=16) == 4
    assert worker_count("cuda", 10, cpus=16) == CUDA_WORKERS == 4
    assert worker_count("cuda", 3) == 3 and worker_count("cuda", 10, workers=1) == 1
    assert worker_count("cpu", 0) == 1
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        worker_count("cuda", 4, workers=0)


def test_train_all_trains_in_two_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AVSNN_RUNS", str(tmp_path / "runs"))  # the spawned workers inherit all three
    monkeypatch.setenv("AVSNN_FUSED_CPP", "0")  # no C++ kernel build in a fresh worker (the scan's torch ops)
    data = write_release_fixture(tmp_path / "rel", per_class=4, rates=(16000,))
    a = arm("v", "vision", "smoke", str(data), (0, 1), epochs=1, max_train_batches=1, device="cpu")
    train_all([a], workers=2)
    assert all(RunStore(c).done for c in a.configs)
    assert len(a.accuracies) == 2


def test_resident_moves_a_small_set_once_and_leaves_the_rest():
    data = ArrayData(torch.zeros(6, 3, 4, 4, dtype=torch.uint8), torch.arange(6) % 2, classes=["a", "b"])
    assert resident(data, "cpu") is data
    assert resident(data, "meta", limit=10) is data  # larger than the limit
    moved = resident(data, "meta")
    assert moved.inputs.device.type == moved.labels.device.type == "meta" and moved.classes == data.classes
    x, y = moved.batch(torch.tensor([0, 2]), "meta")
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32 and y.device.type == "meta"
    both = ArrayData({"v": torch.zeros(4, 2), "a": torch.zeros(4, 3)}, torch.arange(4))
    assert {t.device.type for t in resident(both, "meta").inputs.values()} == {"meta"}


# ---- the recorded GPU build -------------------------------------------------------------------------
def _claims():
    return [
        Claim("L2 beats FC (vision)", "Figs. 6, 9", compare([0.9, 0.92, 0.91, 0.93, 0.9], [0.8, 0.83, 0.8, 0.82, 0.8])),
        Claim("fusion beats audio", "-", compare([0.7, 0.72, 0.69, 0.71, 0.7], [0.7, 0.7, 0.71, 0.7, 0.71])),
    ]


def _summary(commit: str) -> dict:
    return {
        "schema": provenance.SCHEMA,
        "device": "NVIDIA H100 80GB HBM3",
        "versions": {"torch": "2.9.0", "cuda": "12.8", "driver": "570.1"},
        "commit": commit,
        "chapters": {"book/05_vision.md": 101.5, "book/intro.md": 12.0},
        "build_seconds": 455.2,
        "claims": {
            "data": "avdigits",
            "profile": "gpu",
            "seeds": [0, 1, 2, 3, 4],
            "rows": provenance.claims_record(_claims()),
        },
    }


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git checkout with one library file, committed."""
    (tmp_path / "avsnn").mkdir()
    (tmp_path / "avsnn" / "x.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    return tmp_path


def _record(repo: Path, commit: str) -> Path:
    path = repo / "scripts" / "gpu_book_results" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_summary(commit)))
    return path


def test_claims_round_trip_through_the_record():
    rows = json.loads(json.dumps(provenance.claims_record(_claims())))
    assert claims_table(provenance.claims_from_record(rows)) == claims_table(_claims())
    silent = [
        *_claims()[:1],
        Claim("x", "-", compare([0.7, 0.72, 0.7], [0.2, 0.1, 0.3]), ("FC seed 0 (90 % silent)",), 0.9),
    ]
    back = provenance.claims_from_record(json.loads(json.dumps(provenance.claims_record(silent))))
    assert [c.silent for c in back] == [(), ("FC seed 0 (90 % silent)",)] and back[1].verdict != "held"
    assert [c.most_silent for c in back] == [None, 0.9]
    for row in rows:
        row.pop("silent"), row.pop("most_silent")  # a record made before the guard reads back as unguarded
    assert claims_table(provenance.claims_from_record(rows)) == claims_table(_claims())
    rows[0]["silent"] = "FC seed 0"
    with pytest.raises(ValueError, match="'silent' must be a list of strings"):
        provenance.claims_from_record(rows)
    assert rows[0]["half_width"] > 0 and rows[0]["verdict"] == "held"


def test_absent_record_is_one_line(tmp_path):
    text = provenance.gpu_book_section(tmp_path / "scripts" / "summary.json", tmp_path)
    assert text.startswith("No GPU build of the book has been recorded") and "`scripts/summary.json`" in text
    assert "\n" not in text


def test_current_record_is_shown_with_device_commit_and_table(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    path = _record(repo, commit)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the record")  # adding the record changes no source: still current
    text = provenance.gpu_book_section(path, repo)
    assert f"**GPU build** on NVIDIA H100 80GB HBM3, commit `{commit[:12]}` (current)" in text
    assert "torch 2.9.0, CUDA 12.8, driver 570.1; 455 s" in text
    assert claims_table(_claims()) in text and "05_vision 102" in text


def test_record_is_stale_after_a_source_change_or_off_the_history(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    path = _record(repo, commit)
    (repo / "avsnn" / "x.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "change")
    assert provenance.freshness(commit, repo) == provenance.Freshness(
        "stale", "1 file(s) of avsnn/, book/ changed since"
    )
    assert "(stale: 1 file(s) of avsnn/, book/ changed since)" in provenance.gpu_book_section(path, repo)
    _git(repo, "checkout", "-q", "--orphan", "other")
    _git(repo, "commit", "-qm", "unrelated")
    assert provenance.freshness(commit, repo).why == "its commit is not an ancestor of HEAD"
    assert provenance.freshness("0" * 40, repo).why == "its commit is not in this checkout"


def test_freshness_is_unknown_without_git(tmp_path, monkeypatch):
    assert provenance.freshness("abc1234", tmp_path).state == "unknown"  # not a checkout

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    assert provenance.freshness("abc1234", tmp_path) == provenance.Freshness("unknown", "git is not available")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"schema": 1}), "missing key(s)"),
        (json.dumps({**_summary("abc1234"), "schema": 9}), "schema 9, this code reads 1"),
        (json.dumps({**_summary("HEAD~1")}), "is not a git commit id"),
        (
            json.dumps({**_summary("abc1234"), "claims": {"rows": [{"claim": "x"}]}}),
            "claims row 1: missing key(s) ['paper'",
        ),
    ],
)
def test_malformed_record_is_one_line_naming_the_file(tmp_path, text, why):
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        provenance.gpu_book_section(path, tmp_path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: not a GPU build record") and why in message


# ---- the build script and the device script -------------------------------------------------------
def test_gpu_book_script_times_chapters_and_writes_a_record_the_intro_reads(tmp_path, monkeypatch):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    script = _load(ROOT / "scripts" / "gpu_book.py", "gpu_book_script")
    cache = get_cache(str(tmp_path / "cache"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    uri = str(ROOT / "book" / "05_vision.md")
    cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data={"execution_seconds": 12.345}), check_validity=False)
    assert script.chapter_times(tmp_path / "cache") == {"book/05_vision.md": 12.35}
    assert script.chapter_times(tmp_path / "cache", since=4e9) == {}  # executed before this build
    assert script.chapter_times(tmp_path / "none") == {}
    assert script.cache_folder() == ROOT / "_build" / ".jupyter_cache"
    params = script.intro_parameters()
    assert params["profile"] == "gpu" and params["ablation_seeds"] == book.GPU_SEEDS
    record = script.summary("abc1234", {"book/05_vision.md": 12.3}, 400.0, _claims(), {"data": "avdigits"})
    path = script.write_json(tmp_path / "out" / "summary.json", record)
    assert provenance.read_summary(path)["device"] == ("cpu" if not torch.cuda.is_available() else record["device"])
    assert "(unknown: not a git checkout)" in provenance.gpu_book_section(path, tmp_path)
    monkeypatch.delenv("AVSNN_COMMIT", raising=False)
    monkeypatch.setattr(script, "ROOT", tmp_path)  # no git history there
    with pytest.raises(ValueError, match="no commit known: pass --commit"):
        script.commit_id()
    monkeypatch.setenv("AVSNN_COMMIT", "abc1234")
    assert script.commit_id() == "abc1234" and script.commit_id("def5678") == "def5678"
    assert set(provenance._KEYS) <= set(record)


def test_device_script_steps_fit_the_device_limit():
    """Each step of scripts/gpu_check.sh has its own time limit; together under one command's 600 s."""
    text = (ROOT / "scripts" / "gpu_check.sh").read_text()
    limits = {name: int(n) for name, n in re.findall(r"^(T_\w+)=\$\{\1:-(\d+)\}$", text, re.M)}
    uses = {name: len(re.findall(rf'timeout "\${name}"', text)) for name in limits}
    assert set(limits) == {"T_INSTALL", "T_TESTS", "T_BENCH", "T_BOOK"} and all(uses.values())
    assert sum(limits[k] * uses[k] for k in limits) <= 560
    assert "scripts/gpu_book.py" in text and "--timeout $((T_BOOK - 30))" in text


def test_device_wheels_are_the_locks_versions():
    wheels = _load(ROOT / "scripts" / "gpu_wheels.py", "gpu_wheels_script")
    pinned = wheels.pins(wheels.WHEELS, (ROOT / "requirements.lock").read_text())
    assert "jupyter-book==1.0.4.post1" in pinned and "snntorch==1.0.0" in pinned
    assert not {wheels._norm(n) for n in wheels.WHEELS} & set(wheels.LEFT_OUT)
    with pytest.raises(ValueError, match=r"requirements.lock pins no version of \['nope'\]"):
        wheels.pins(["nope"], "a==1\n")
