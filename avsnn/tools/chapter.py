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
import io
import json
import os
import tokenize
from pathlib import Path
from typing import Optional

from ..console import did_you_mean
from ..files import check_output_folder
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


def parameter_comments(nb) -> dict:
    """Each parameter's comment in the ``parameters`` cell: ``{name: text}`` (``""`` when it has none).

    A parameter's comment is every ``#`` comment on the lines of its assignment (a formatter may wrap
    one inside brackets) and on the comment-only lines right after it.
    """
    source = parameters_cell(nb).source
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    out = {}
    for node in ast.parse(source).body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            continue
        end = node.end_lineno
        while end < len(lines) and lines[end].strip().startswith("#"):  # comment-only lines that follow
            end += 1
        text = " ".join(comments[n] for n in range(node.lineno, end + 1) if comments.get(n))
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        out.update({t.id: text for t in targets if isinstance(t, ast.Name)})
    return out


def format_parameters(nb) -> str:
    """The chapter's parameters, one ``name = default  # comment`` line each (``chapter params``)."""
    params, comments = chapter_parameters(nb), parameter_comments(nb)
    shown = {k: json.dumps(v) if isinstance(v, str) else repr(v) for k, v in params.items()}
    width = max((len(f"{k} = {v}") for k, v in shown.items()), default=0)
    lines = [
        f"{k} = {v}".ljust(width) + f"  # {comments[k]}" if comments.get(k) else f"{k} = {v}" for k, v in shown.items()
    ]
    return "\n".join(lines)


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
    from ..train.config import _FIELDS, parse_as, parse_value  # (torch: not at import, so `--help` is fast)

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
    its validation; ``profile`` must name a profile, ``data`` must name a dataset (an alias becomes its
    name) or an existing folder (made absolute: the chapter runs in its own folder), ``device="cuda"``
    needs a GPU, and the benchmark sizes (``batch``, ``steps`` ...) follow :func:`avsnn.bench.check_sizes`.
    """
    from ..bench.timing import SIZE_MINIMA, check_sizes  # (torch: not at import, so `--help` is fast)
    from ..device import resolve_device
    from ..train.config import _FIELDS, NAMED_DATASETS, RunConfig, normalise_data_path

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
    if isinstance(data, str):
        params["data"] = normalise_data_path(data)
        if params["data"] not in NAMED_DATASETS and not Path(params["data"]).is_dir():
            raise FileNotFoundError(
                f"parameter data: dataset folder {params['data']} not found "
                "(expected 'avdigits', 'synthetic' or a dataset folder)"
            )
    return params


def kernel_config():
    """The ``traitlets`` config of the kernel a chapter runs in: encrypted ZMQ transport where possible.

    ipykernel warns ``Kernel is running over TCP without encryption`` on every start unless the kernel
    manager provisions CurveZMQ keys; ``transport_encryption="auto"`` does so when the kernelspec declares
    support and pyzmq has CURVE (otherwise the manager's default stays, and so does the warning).
    """
    import zmq
    from traitlets.config import Config

    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


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
    try:
        papermill.execute_notebook(
            nb,
            str(tmp),
            parameters=params,
            cwd=str(path.parent),
            progress_bar=progress,
            kernel_name=kernel_name,
            config=kernel_config(),
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
    show = sub.add_parser("params", help="list a chapter's parameters, their defaults and what each means")
    show.add_argument("chapter")
    show.set_defaults(func=lambda a: print(format_parameters(read_chapter(a.chapter))))
