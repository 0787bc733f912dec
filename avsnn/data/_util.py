"""Small helpers shared by the data modules (cache location, hashing, atomic writes, errors)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger("avsnn.data")

ON_ERROR_CHOICES = ("raise", "skip")


def check_on_error(on_error: str) -> str:
    """Validate an ``on_error`` argument (``"raise"`` or ``"skip"``)."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    return on_error


def default_cache_dir() -> Path:
    """Cache root: ``$AVSNN_CACHE`` if set, else ``~/.cache/avsnn``."""
    env = os.environ.get("AVSNN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "avsnn"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` as a Path, or the default cache root when None."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON form of ``obj`` (sorted keys), truncated to ``length``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def handle_error(on_error: str, skipped: list, path: Any, reason: str, exc_type=ValueError) -> None:
    """Raise ``exc_type`` naming ``path`` (``on_error="raise"``) or record ``(path, reason)``."""
    if on_error == "raise":
        raise exc_type(f"{path}: {reason}")
    skipped.append((Path(path) if not isinstance(path, Path) else path, reason))


def report_skipped(skipped: list, what: str) -> None:
    """Log a one-line count of skipped items (plus the first few) at WARNING level."""
    if skipped:
        head = "; ".join(f"{p}: {r}" for p, r in skipped[:3])
        more = f" (+{len(skipped) - 3} more)" if len(skipped) > 3 else ""
        logger.warning("%s: skipped %d bad file(s): %s%s", what, len(skipped), head, more)
