"""Content-addressed run store: ``<root>/<run key>/``.

A run's folder is named by its **run key** (:func:`run_key`): a short hash of the canonical config
(:meth:`RunConfig.canonical`), a fingerprint of the content of the data it trains on (:func:`data_fingerprint`) and
a fingerprint of the code that trains and evaluates (:func:`code_fingerprint`). Changed settings, an
edited dataset or changed training code each lead to a new folder: a stale result is never served.
A fusion config holds its unimodal configs and shares their data, so its key covers its sub-runs.

Layout of one run folder::

    config.json         the RunConfig (all fields, cosmetic ones included) + the run identity
    checkpoint.pt       model, optimiser, scheduler, epoch, RNG states, history (after each epoch)
    checkpoint.prev.pt  the checkpoint before it (resume falls back to it if checkpoint.pt is damaged)
    history.json        per-epoch loss / accuracy / lr / seconds
    metrics.json        final metrics (avsnn.metrics.evaluate) + the run identity
    DONE                training and evaluation finished: JSON record of the size and sha256 of
                        checkpoint.pt, metrics.json, config.json and history.json, checked when the
                        run is loaded
    features_<split>.pt  (unimodal runs used by fusion) frozen features, cached

The root is the ``root`` argument, else :func:`avsnn.files.default_runs_dir` (``$AVSNN_RUNS``, else the
checkout's ``runs/``, else ``./runs``).

Every file is written with :func:`avsnn.files.atomic_write` (durable): a process killed
mid-write leaves the previous version of the file intact (plus, at worst, a stray ``.*.tmp``
file that is ignored).
A failed write (disk full, read-only folder) raises :class:`RunStoreError` saying what is intact.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from avsnn.data.datasets import GENERATED_DATASETS, NAMED_RELEASES, dataset_fingerprint
from avsnn.files import atomic_write, default_runs_dir

from .config import RunConfig

PACKAGE = Path(__file__).resolve().parent.parent
# the source that produces results (relative to the avsnn package); command-line and book tooling excluded
CODE_PARTS = ("core", "models", "train", "data", "metrics")
CODE_EXCLUDED = ("train/cli.py", "train/summary.py", "data/cli.py")


class RunStoreError(RuntimeError):
    """A run store file could not be written (disk full, read-only folder); the message says what is intact."""


class DamagedRunFile(ValueError):
    """A run store file cannot be read (truncated, not JSON); the message names the file."""


def default_root(root: Optional[os.PathLike | str] = None) -> Path:
    """``root`` if given, else :func:`avsnn.files.default_runs_dir`."""
    return Path(root) if root is not None else default_runs_dir()


def report(message: str) -> None:
    """One line on stderr (damaged files found, what is done about them)."""
    print(f"avsnn: {message}", file=sys.stderr, flush=True)


# ---- run identity ------------------------------------------------------------------------------
CODE_SUFFIXES = (".py", ".cpp")  # the C++ LIF kernel's source computes results too


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of every module, class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def source_behaviour(path: Path) -> bytes:
    """What of a source file decides what it computes, as bytes.

    A Python file's syntax tree without docstrings, comments, layout or line numbers; another file's
    bytes (the C++ kernel is compiled as written).
    """
    data = path.read_bytes()
    if path.suffix != ".py":
        return data
    return ast.dump(_without_docstrings(ast.parse(data, filename=str(path)))).encode()


@functools.cache
def code_fingerprint(length: int = 12) -> str:
    """sha256 over the behaviour (:func:`source_behaviour`) of the source files of :data:`CODE_PARTS`.

    Sorted relative paths and contents: a docstring, comment or formatting edit keeps every run key;
    a changed constant, operator or name gives new ones. Computed once per process.
    """
    files = []
    for part in CODE_PARTS:
        p = PACKAGE / part
        files += sorted(f for ext in CODE_SUFFIXES for f in p.rglob(f"*{ext}")) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in sorted(files):
        rel = f.relative_to(PACKAGE).as_posix()
        if rel not in CODE_EXCLUDED:
            h.update(rel.encode() + b"\0" + source_behaviour(f) + b"\0")
    return h.hexdigest()[:length]


def data_fingerprint(cfg: RunConfig) -> str:
    """Content fingerprint of the datasets of ``cfg`` (or of a fusion config's inputs).

    :func:`avsnn.data.dataset_fingerprint` of each (generated sets too); a dataset folder that does
    not exist gives ``"missing"`` (the run then fails when it loads its data).
    """
    specs = sorted(
        {
            (c.dataset, c.data_root, c.split_seed, c.per_class)
            for c in (cfg, *cfg.sub_configs.values())
            if c.modality != "fusion"
        },
        key=json.dumps,
    )
    prints = []
    for data, root, seed, per_class in specs:
        folder = root if data in NAMED_RELEASES else data
        if data not in GENERATED_DATASETS and (folder is None or not Path(folder).exists()):
            prints.append("missing")
        else:
            prints.append(dataset_fingerprint(data, root=root, seed=seed, per_class=per_class))
    return hashlib.sha256(json.dumps([list(s) + [p] for s, p in zip(specs, prints)]).encode()).hexdigest()[:16]


def run_identity(cfg: RunConfig) -> dict:
    """``{"run_key", "config_hash", "data_fingerprint", "code_fingerprint"}`` of ``cfg``."""
    ident = {
        "config_hash": cfg.hash(),
        "data_fingerprint": data_fingerprint(cfg),
        "code_fingerprint": code_fingerprint(),
    }
    text = json.dumps(
        {"config": cfg.canonical(), "data": ident["data_fingerprint"], "code": ident["code_fingerprint"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return {"run_key": hashlib.sha256(text.encode()).hexdigest()[:12], **ident}


def run_key(cfg: RunConfig) -> str:
    """The run folder name of ``cfg``: a hash of (canonical config, data fingerprint, code fingerprint)."""
    return run_identity(cfg)["run_key"]


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n").encode()


def atomic_write_json(path: os.PathLike | str, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` with :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(_json_bytes(obj)))


def read_json_file(path: os.PathLike | str, default=None):
    """The JSON in ``path`` (``default`` if missing); unreadable JSON raises :class:`DamagedRunFile`."""
    path = Path(path)
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise DamagedRunFile(f"{path} is damaged: not valid JSON ({_short(e)})") from None


def _short(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def _load_torch(path: Path, map_location) -> dict:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated zip, garbage pickle, empty file ...
        raise DamagedRunFile(f"{path} is damaged ({_short(e)})") from None


# ---- finished-run verification -------------------------------------------------------------------
def file_record(path: Path) -> dict:
    """Size and SHA-256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


_VERIFIED: dict = {}  # run folder -> (size, mtime_ns) of its recorded files when last found sound


def verify_run(path: os.PathLike | str) -> dict[str, str]:
    """Check a finished run's files against the record in ``DONE``: ``{file name: problem}``, empty if sound."""
    path = Path(path)
    try:
        files = json.loads((path / RunStore.DONE).read_text())["files"]
        names = [str(n) for n in files]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return {RunStore.DONE: "no readable record of the run's files (size and sha256)"}
    stats = {n: (path / n).stat() for n in names if (path / n).exists()}
    signature = tuple((n, stats[n].st_size, stats[n].st_mtime_ns) for n in names if n in stats)
    if _VERIFIED.get(str(path)) == signature and len(stats) == len(names):
        return {}
    problems = {}
    for name, rec in files.items():
        if name not in stats:
            problems[name] = "missing"
        elif stats[name].st_size != rec["size"]:
            problems[name] = f"{stats[name].st_size} bytes, {rec['size']} recorded at DONE"
        elif file_record(path / name)["sha256"] != rec["sha256"]:
            problems[name] = "contents differ from the sha256 recorded at DONE"
    if not problems:
        _VERIFIED[str(path)] = signature
    return problems


def describe_problems(problems: dict) -> str:
    """The problems of :func:`verify_run` on one line: ``name: why; ...``."""
    return "; ".join(f"{name}: {why}" for name, why in problems.items())


class RunStore:
    """The folder of one run; :attr:`path` = ``root / run_key(cfg)`` (or ``root / key`` when given)."""

    CONFIG, CHECKPOINT, HISTORY, METRICS, DONE = "config.json", "checkpoint.pt", "history.json", "metrics.json", "DONE"
    PREVIOUS = "checkpoint.prev.pt"
    RECORDED = (CHECKPOINT, METRICS, CONFIG, HISTORY)  # size + sha256 recorded in DONE

    def __init__(self, cfg: RunConfig, root: Optional[os.PathLike | str] = None, *, key: Optional[str] = None):
        self.config = cfg
        self.root = default_root(root)
        self._identity = run_identity(cfg) if key is None else None
        self.path = self.root / (key or self._identity["run_key"])

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    @property
    def identity(self) -> dict:
        """Run key, config hash, data and code fingerprints (recorded in config.json and metrics.json)."""
        if self._identity is None:
            self._identity = run_identity(self.config)
        return self._identity

    # -- state -----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the run finished (``DONE`` exists)."""
        return (self.path / self.DONE).exists()

    def verify(self) -> dict[str, str]:
        """:func:`verify_run` on this folder."""
        return verify_run(self.path)

    def has_checkpoint(self) -> bool:
        """Whether ``checkpoint.pt`` exists."""
        return (self.path / self.CHECKPOINT).exists()

    def unfinish(self, problems: dict) -> None:
        """Undo DONE of a damaged finished run so that it is re-evaluated (and retrained if its checkpoint is bad)."""
        (self.path / self.DONE).unlink(missing_ok=True)
        if self.CHECKPOINT in problems:
            (self.path / self.CHECKPOINT).unlink(missing_ok=True)
            for p in self.path.glob("features_*.pt"):
                p.unlink(missing_ok=True)
        if self.CONFIG in problems:
            (self.path / self.CONFIG).unlink(missing_ok=True)

    # -- writing ---------------------------------------------------------------------------
    def _cannot(self, target: Path, e: OSError) -> RunStoreError:
        why = f"cannot write {target}: {e.strerror or e}"
        if target.name == self.CHECKPOINT:
            why += (
                "; nothing earlier is lost: the previous checkpoint.pt is intact and a rerun resumes from it"
                if target.exists()
                else "; nothing earlier is lost (this run had no checkpoint yet)"
            )
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why += " (choose a writable run store with --runs or $AVSNN_RUNS)"
        return RunStoreError(why)

    def _write(self, name: str, writer: Callable, keep_previous: Optional[str] = None) -> Path:
        target = self.path / name
        try:
            return atomic_write(target, writer, None if keep_previous is None else self.path / keep_previous)
        except OSError as e:
            raise self._cannot(target, e) from e

    def _json(self, name: str, obj: Any) -> Path:
        return self._write(name, lambda f: f.write(_json_bytes(obj)))

    def make_folder(self) -> None:
        """Create the run folder (and its parents); a failure is a :class:`RunStoreError`."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._cannot(self.path, e) from e

    def init(self) -> None:
        """Create the folder and write ``config.json`` (config and identity) unless a readable one is there."""
        self.make_folder()
        try:
            if read_json_file(self.path / self.CONFIG) is not None:
                return
        except DamagedRunFile as e:
            report(f"{e}; rewriting it")
        self._json(self.CONFIG, {**self.config.to_dict(), **self.identity})

    def save_checkpoint(self, state: dict) -> Path:
        """Write ``checkpoint.pt`` atomically, the one it replaces kept as ``checkpoint.prev.pt``."""
        return self._write(self.CHECKPOINT, lambda f: torch.save(state, f), keep_previous=self.PREVIOUS)

    def write_history(self, history: list) -> Path:
        """Write ``history.json`` atomically."""
        return self._json(self.HISTORY, history)

    def write_metrics(self, metrics: dict) -> Path:
        """Write ``metrics.json`` atomically."""
        return self._json(self.METRICS, metrics)

    def mark_done(self) -> None:
        """Write ``DONE``: the size and sha256 of :data:`RECORDED`, checked by :meth:`verify`."""
        self._json(self.DONE, {"files": {n: file_record(self.path / n) for n in self.RECORDED}})

    def save_features(self, split: str, obj: dict) -> Path:
        """Write the features of ``split`` to ``features_<split>.pt`` atomically."""
        return self._write(f"features_{split}.pt", lambda f: torch.save(obj, f))

    @contextlib.contextmanager
    def lock(self):
        """Exclusive advisory lock on the run folder (``.lock``): one trainer per run at a time.

        A second process calling :func:`train_or_load` for the same config waits here, then finds
        ``DONE`` and loads the result instead of training it again. No-op where ``fcntl`` is missing.
        """
        self.make_folder()
        try:
            import fcntl
        except ImportError:  # Windows
            yield
            return
        try:
            f = open(self.path / ".lock", "a")
        except OSError as e:
            raise self._cannot(self.path / ".lock", e) from e
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- reading ---------------------------------------------------------------------------
    def load_checkpoint(self, map_location="cpu") -> Optional[dict]:
        """``checkpoint.pt`` (``None`` if missing); a damaged one raises :class:`DamagedRunFile`."""
        p = self.path / self.CHECKPOINT
        return _load_torch(p, map_location) if p.exists() else None

    def resume_checkpoint(self, map_location="cpu", repair: bool = True) -> Optional[dict]:
        """The checkpoint to resume from: ``checkpoint.pt``, else ``checkpoint.prev.pt``, else ``None``.

        A damaged ``checkpoint.pt`` is reported in one line and (``repair``) removed, so that the next
        save does not keep it as the previous one; training then resumes from the previous checkpoint
        or starts from scratch.
        """
        why = None
        try:
            ck = self.load_checkpoint(map_location)
            if ck is not None:
                return ck
        except DamagedRunFile as e:
            why = str(e)
            if repair:
                (self.path / self.CHECKPOINT).unlink(missing_ok=True)
        prev = self.path / self.PREVIOUS
        if prev.exists():
            try:
                ck = _load_torch(prev, map_location)
                report(
                    f"{why or f'{self.path / self.CHECKPOINT} is missing'}; resuming from {self.PREVIOUS} "
                    f"(epoch {ck['epoch']})"
                )
                return ck
            except DamagedRunFile as e:
                why = f"{why}; {e}" if why else str(e)
        if why:
            report(f"{why}; no good earlier checkpoint is kept: training from scratch")
        return None

    def load_features(self, split: str) -> Optional[dict]:
        """The features of ``split`` saved by :meth:`save_features`; ``None`` when missing or damaged."""
        p = self.path / f"features_{split}.pt"
        if not p.exists():
            return None
        try:
            return _load_torch(p, "cpu")
        except DamagedRunFile as e:
            report(f"{e}; extracting the features again")
            return None

    def read_json(self, name: str, default=None):
        """The JSON file ``name`` of the run folder (``default`` when missing)."""
        return read_json_file(self.path / name, default)
