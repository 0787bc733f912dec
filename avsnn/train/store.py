"""Content-addressed run store: ``<root>/<config hash>/``.

Layout of one run folder::

    config.json      the RunConfig (all fields, cosmetic ones included)
    checkpoint.pt    model, optimiser, scheduler, epoch, RNG states, history (after each epoch)
    history.json     per-epoch loss / accuracy / lr / seconds
    metrics.json     final metrics (avsnn.metrics.evaluate)
    DONE             marker: training and evaluation finished
    features_<split>.pt  (unimodal runs used by fusion) frozen features, cached

The root is the ``root`` argument, else ``$AVSNN_RUNS``, else ``./runs``.

Every file is written atomically: to a temporary file in the same folder, flushed and
fsync'ed, then moved over the target with :func:`os.replace` (atomic on POSIX and
Windows), and the folder is fsync'ed. A process killed mid-write leaves the previous
version of the file intact (plus, at worst, a stray ``.*.tmp`` file that is ignored).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .config import RunConfig

ENV_VAR = "AVSNN_RUNS"


def default_root(root: Optional[os.PathLike | str] = None) -> Path:
    """``root`` if given, else ``$AVSNN_RUNS``, else ``./runs``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(ENV_VAR) or "runs")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: os.PathLike | str, writer: Callable[[io.BufferedWriter], Any]) -> Path:
    """Call ``writer(f)`` on a temporary file next to ``path``, fsync it, then ``os.replace`` it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: os.PathLike | str, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_torch_save(path: os.PathLike | str, obj: Any) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


class RunStore:
    """The folder of one run; :attr:`path` = ``root / cfg.hash()``."""

    CONFIG, CHECKPOINT, HISTORY, METRICS, DONE = "config.json", "checkpoint.pt", "history.json", "metrics.json", "DONE"

    def __init__(self, cfg: RunConfig, root: Optional[os.PathLike | str] = None):
        self.config = cfg
        self.root = default_root(root)
        self.path = self.root / cfg.hash()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # -- state -----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return (self.path / self.DONE).exists()

    def has_checkpoint(self) -> bool:
        return (self.path / self.CHECKPOINT).exists()

    # -- writing ---------------------------------------------------------------------------
    def init(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / self.CONFIG).exists():
            atomic_write_json(self.path / self.CONFIG, self.config.to_dict())

    def save_checkpoint(self, state: dict) -> Path:
        return atomic_torch_save(self.path / self.CHECKPOINT, state)

    def write_history(self, history: list) -> Path:
        return atomic_write_json(self.path / self.HISTORY, history)

    def write_metrics(self, metrics: dict) -> Path:
        return atomic_write_json(self.path / self.METRICS, metrics)

    def mark_done(self) -> None:
        atomic_write(self.path / self.DONE, lambda f: f.write(b"done\n"))

    def save_features(self, split: str, obj: dict) -> Path:
        return atomic_torch_save(self.path / f"features_{split}.pt", obj)

    @contextlib.contextmanager
    def lock(self):
        """Exclusive advisory lock on the run folder (``.lock``): one trainer per run at a time.

        A second process calling :func:`train_or_load` for the same config waits here, then finds
        ``DONE`` and loads the result instead of training it again. No-op where ``fcntl`` is missing.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows
            yield
            return
        with open(self.path / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- reading ---------------------------------------------------------------------------
    def load_checkpoint(self, map_location="cpu") -> Optional[dict]:
        p = self.path / self.CHECKPOINT
        if not p.exists():
            return None
        return torch.load(p, map_location=map_location, weights_only=False)

    def load_features(self, split: str) -> Optional[dict]:
        p = self.path / f"features_{split}.pt"
        return torch.load(p, map_location="cpu", weights_only=False) if p.exists() else None

    def read_json(self, name: str, default=None):
        p = self.path / name
        if not p.exists():
            return default
        return json.loads(p.read_text())
