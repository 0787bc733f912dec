"""Re-run a book chapter with new parameters through papermill.

Chapters are MyST markdown notebooks (``book/*.md``, jupytext ``format_name: myst``)
whose first code cell is tagged ``parameters``. papermill reads ``.ipynb`` only,
so the chapter is converted in-process with jupytext, its parameters are checked
against the ``parameters`` cell (unknown names and values of the wrong type are
errors; :func:`parse_parameter` parses them like config overrides) and against the
library's own rules (:func:`check_parameters`: a value that training would reject
fails before anything runs), and papermill executes it, writing
``<out>/<chapter>.ipynb``. The output folder must lie outside ``book/``. A chapter that
fails in a cell ends in one line naming the cell and the error; the notebook executed up
to there is kept as ``<out>/<chapter>.failed.ipynb``.

Command line::

    python -m avsnn chapter run book/01_lif_neuron.md -p seed 3 -p profile smoke -o results/
    python -m avsnn chapter params book/01_lif_neuron.md
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from ..bench import SIZE_MINIMA, check_sizes
from ..console import did_you_mean
from ..device import resolve_device
from ..files import check_output_folder
from ..train.config import _FIELDS, NAMED_DATASETS, RunConfig, normalise_data_path, parse_as, parse_value
from ..train.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


class ChapterFailed(RuntimeError):
    """A cell of the executed chapter raised; the message names the cell and the error."""


def read_chapter(path: str | Path):
    """Read a MyST chapter into an ``nbformat`` notebook (via jupytext)."""
    import jupytext

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"chapter {path} does not exist (expected a book/*.md MyST notebook)")
    if path.suffix not in (".md", ".ipynb"):
        raise ValueError(f"chapter {path}: expected a .md (MyST) or .ipynb notebook")
    nb = jupytext.read(path)
    if not nb.metadata.get("kernelspec"):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def parameters_cell(nb):
    """The notebook's code cell tagged ``parameters``; a ``ValueError`` when there is none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    raise ValueError("the chapter has no code cell tagged 'parameters'")


def chapter_parameters(nb) -> dict:
    """The names and default values assigned in the ``parameters`` cell."""
    params = {}
    for node in ast.parse(parameters_cell(nb).source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    params[target.id] = ast.literal_eval(node.value)
    return params


def _parameter_type(default):
    """The type a chapter parameter's values are parsed to, from its default; ``None`` is accepted too."""
    if isinstance(default, (list, tuple)):
        return Optional[tuple[int, ...]]
    return Optional[str if default is None else type(default)]


def parse_parameter(name: str, raw, default):
    """Parse ``raw`` (a command-line string or a value) for the chapter parameter ``name``.

    One parser with the configs (:func:`avsnn.train.config.parse_as`): a parameter that is a
    :class:`~avsnn.train.RunConfig` field takes that field's type, any other one its default's type.
    """
    try:
        if name in _FIELDS:
            return parse_value(name, raw)
        value = parse_as(name, raw, _parameter_type(default))
    except ValueError as e:
        raise ValueError(f"chapter parameter {e}") from None
    return list(value) if isinstance(default, list) and value is not None else value


def resolve_parameters(nb, overrides: dict) -> dict:
    """Check ``overrides`` against the chapter's ``parameters`` cell and parse their values."""
    defaults = chapter_parameters(nb)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        hint = did_you_mean(unknown[0], defaults) if len(unknown) == 1 else ""
        raise ValueError(f"unknown parameter(s) {unknown}; this chapter takes {sorted(defaults)}{hint}")
    return {k: parse_parameter(k, v, defaults[k]) for k, v in overrides.items()}


def check_parameters(params: dict) -> dict:
    """Check chapter parameters against the library's rules before the chapter runs; return them.

    Names that are :class:`~avsnn.train.RunConfig` fields (``timesteps``, ``beta``, ``device`` ...) follow
    its validation; ``profile`` must name a profile, ``data`` must be ``"embedded"`` or an existing folder
    (made absolute: the chapter runs in its own folder), ``device="cuda"`` needs a GPU, and the benchmark
    sizes (``batch``, ``steps`` ...) follow :func:`avsnn.bench.check_sizes`.
    """
    params = dict(params)
    try:
        RunConfig(**{k: v for k, v in params.items() if k in _FIELDS and k != "profile"})
        check_sizes(**{k: v for k, v in params.items() if k in SIZE_MINIMA})
        if "profile" in params and params["profile"] not in PROFILES:
            raise ValueError(f"profile must be one of {list(PROFILES)}, got {params['profile']!r}")
        if "device" in params:
            resolve_device(params["device"])
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"invalid chapter parameter: {e}") from None
    data = params.get("data")
    if isinstance(data, str) and data not in NAMED_DATASETS:
        params["data"] = normalise_data_path(data)
        if not Path(params["data"]).is_dir():
            raise FileNotFoundError(
                f"parameter data: dataset folder {params['data']} not found (expected 'embedded' or a dataset folder)"
            )
    return params


def source_digest(path: str | Path) -> str:
    """SHA-256 of a chapter source, recorded in goldens to detect stale ones."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_chapter(
    path: str | Path,
    parameters: dict | None = None,
    out_dir: str | Path = "results",
    progress: bool = True,
    kernel_name: str = "python3",
) -> Path:
    """Execute ``path`` with ``parameters`` and write ``<out_dir>/<stem>.ipynb``; return that path."""
    import papermill

    path = Path(path).resolve()
    nb = read_chapter(path)
    params = check_parameters(resolve_parameters(nb, parameters or {}))
    out_dir = check_output_folder(out_dir, "output folder (-o)").resolve()
    if out_dir == path.parent or out_dir.is_relative_to(BOOK):
        raise ValueError(
            f"output folder {out_dir} lies in the book sources ({BOOK} or the chapter's folder); "
            f"choose one outside them (default: results/)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.ipynb"
    nb.metadata["avsnn"] = {
        "source": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "source_sha256": source_digest(path),
        "parameters": params,
    }
    tmp = out.with_name(f"{out.stem}.partial.ipynb")
    os.environ.setdefault("AVSNN_RUNS", str(ROOT / "runs"))
    try:
        papermill.execute_notebook(
            nb, str(tmp), parameters=params, cwd=str(path.parent), progress_bar=progress, kernel_name=kernel_name
        )
    except BaseException as e:
        failed = out.with_name(f"{out.stem}.failed.ipynb")
        if tmp.exists():
            os.replace(tmp, failed)
        if isinstance(e, papermill.PapermillExecutionError):
            raise ChapterFailed(
                f"chapter {path.name} failed in cell [{e.exec_count}]: {e.ename}: {e.evalue}; "
                f"the notebook executed up to there is {failed}"
            ) from None
        raise
    os.replace(tmp, out)  # the finished notebook appears whole or not at all
    return out


def _parse_pairs(pairs):
    return {name: value for name, value in (pairs or [])}


def add_chapter_parser(subparsers) -> None:
    """Add ``avsnn chapter run|params`` to the ``avsnn`` sub-commands."""
    p = subparsers.add_parser("chapter", help="run a book chapter through papermill with new parameters")
    sub = p.add_subparsers(dest="chapter_cmd", required=True)
    run = sub.add_parser("run", help="execute a chapter with parameters; write the executed .ipynb to -o")
    run.add_argument("chapter", help="book/<chapter>.md")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a value of the chapter's parameters cell (repeatable)",
    )
    run.add_argument("-o", "--out", default="results", help="output folder (default: results/)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(
        func=lambda a: print(run_chapter(a.chapter, _parse_pairs(a.parameter), a.out, progress=not a.quiet))
    )
    show = sub.add_parser("params", help="list a chapter's parameters and their defaults")
    show.add_argument("chapter")
    show.set_defaults(func=lambda a: print(json.dumps(chapter_parameters(read_chapter(a.chapter)), indent=2)))
