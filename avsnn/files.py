"""The package's one atomic file write: a file appears whole or not at all.

The content goes to a temporary file in the target's folder (``.<name>.*.tmp``), which is
flushed (and fsync'ed, with ``durable=True``) and then moved over the target with
:func:`os.replace` (atomic on POSIX and Windows); a durable write also fsyncs the folder. A
process killed mid-write leaves the previous version of the file intact (plus, at worst, a stray
temporary file that readers ignore). The file gets the mode a plain ``open`` would give it
(``0o666`` less the umask), not :func:`tempfile.mkstemp`'s ``0o600``, so a store shared by a group
stays readable.

Also here: the folders the package writes to by default, found without importing torch (the Makefile
reads them): the source checkout's (:func:`checkout_folder`) and the run store root
(:func:`default_runs_dir`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

__all__ = [
    "RUNS_ENV",
    "atomic_write",
    "atomic_write_bytes",
    "check_output_file",
    "check_output_folder",
    "checkout_folder",
    "default_runs_dir",
]

RUNS_ENV = "AVSNN_RUNS"


def _umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


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


def atomic_write(
    path: os.PathLike | str,
    writer: Callable[[io.BufferedWriter], Any],
    keep_previous: Optional[os.PathLike | str] = None,
    durable: bool = True,
) -> Path:
    """Call ``writer(f)`` on a temporary file next to ``path``, then ``os.replace`` it over ``path``.

    ``keep_previous``: move the current ``path`` there first (only once the new file is complete).
    ``durable``: fsync the file and its folder (off for caches that are rebuilt when lost).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with contextlib.suppress(OSError):  # a file system without modes (vfat, some network mounts)
            os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            writer(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: os.PathLike | str, data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(data), durable=durable)


# ---- output paths, checked before a command starts its work ---------------------------------------
def _check_creatable(path: Path, what: str) -> None:
    """``path`` does not exist yet: its nearest existing ancestor must be a writable folder."""
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {path}: {parent} is a file, expected a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: cannot write {parent}: {os.strerror(errno.EACCES)}")


def check_output_folder(path: os.PathLike | str, what: str) -> Path:
    """Check that ``path`` is a writable folder or can be created as one; return it (nothing is created).

    ``what`` names the option in the error (``"output folder (-o)"``).
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {path}: cannot write {path}: {os.strerror(errno.EACCES)}")
    elif os.path.lexists(path):
        raise ValueError(f"{what} {path} exists and is not a folder; expected a folder")
    else:
        _check_creatable(path, what)
    return path


def check_output_file(path: os.PathLike | str, what: str) -> Path:
    """Check that ``path`` can be written as a file (its folder existing or creatable); return it.

    ``what`` names the option in the error (``"--out"``).
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise ValueError(f"{what} {path} is an existing folder, expected a file name")
    if os.path.lexists(path):
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {path}: cannot write it: {os.strerror(errno.EACCES)}")
    else:
        _check_creatable(path, what)
    return path


# ---- default folders ------------------------------------------------------------------------------
def checkout_folder(*parts: str) -> Path | None:
    """``<checkout>/<parts>`` of the source checkout this package is imported from, if it can be written.

    The checkout is the folder above the package whose ``pyproject.toml`` names ``avsnn``; it does not
    depend on the working directory. None where the package does not lie in a checkout (an installed
    wheel, another project's ``pyproject.toml``) or where the folder cannot be created or written.
    """
    root = Path(__file__).resolve().parents[1]
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not re.search(r'^name\s*=\s*"avsnn"\s*$', pyproject, re.MULTILINE):
        return None
    folder = root.joinpath(*parts)
    nearest = next(p for p in (folder, *folder.parents) if p.exists())
    return folder if nearest.is_dir() and os.access(nearest, os.W_OK | os.X_OK) else None


def default_runs_dir() -> Path:
    """Run store root: ``$AVSNN_RUNS`` if set, else the checkout's ``runs/``, else ``./runs``.

    The checkout's folder (:func:`checkout_folder`) does not depend on the working directory, so
    commands typed by hand, ``avsnn chapter run``, ``make book`` and ``make test`` share one store (the
    Makefile reads it from here: ``make -s runs-dir``). An installed package has no checkout, and one
    that cannot be written has no place for runs: both fall back to ``runs`` in the working directory.
    """
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    return checkout_folder("runs") or Path("runs")
