"""Small helpers shared by the data modules (cache location, hashing, checked atomic writes, errors)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from avsnn.files import atomic_write_bytes, checkout_folder

logger = logging.getLogger("avsnn.data")

ON_ERROR_CHOICES = ("raise", "skip")


def check_on_error(on_error: str) -> str:
    """Validate an ``on_error`` argument (``"raise"`` or ``"skip"``)."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    return on_error


def checkout_cache_dir() -> Path | None:
    """The data cache of the source checkout this package is imported from: ``<checkout>/.cache/avsnn``.

    None where the package does not lie in a checkout or where that folder cannot be created or
    written (:func:`avsnn.files.checkout_folder`).
    """
    return checkout_folder(".cache", "avsnn")


def default_cache_dir() -> Path:
    """Cache root: ``$AVSNN_CACHE`` if set, else the checkout's ``.cache/avsnn``, else ``~/.cache/avsnn``.

    The checkout's folder (:func:`checkout_cache_dir`) does not depend on the working directory, so
    commands typed by hand share it with ``make book`` and ``make test`` (the Makefile reads it from
    here: ``make -s cache-dir``). Outside a writable checkout and without ``$AVSNN_CACHE``, a user
    without a home folder (none known, or ``$HOME`` missing) gets a :class:`CacheNotWritableError`
    saying to set it.
    """
    env = os.environ.get("AVSNN_CACHE")
    if env:
        return Path(env).expanduser()
    checkout = checkout_cache_dir()
    if checkout is not None:
        return checkout
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no $HOME and no password-database entry
        home = None
    if home is None or not home.is_dir():
        where = "no home folder is known" if home is None else f"the home folder {home} does not exist"
        raise CacheNotWritableError(
            f"outside a writable avsnn checkout the data cache defaults to ~/.cache/avsnn, but {where}; "
            "set AVSNN_CACHE to a writable folder"
        )
    return home / ".cache" / "avsnn"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` as a Path, or the default cache root when None."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON form of ``obj`` (sorted keys), truncated to ``length``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class CacheNotWritableError(ValueError):
    """A folder the data layer must write to (cache, ``--out``) is not writable."""


def is_not_writable(exc: BaseException) -> bool:
    """True if ``exc`` says a path cannot be written (permission denied, read-only file system)."""
    return isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno == errno.EROFS)


_warned_not_writable: set = set()


CACHE_FIX = "set AVSNN_CACHE to a writable folder to cache it"


def warn_not_writable(folder: Path, exc: OSError, what: str, fix: str = CACHE_FIX) -> None:
    """Log one line (once per folder and ``what``): ``folder`` is not writable, ``what`` stays in memory."""
    if (str(folder), what) in _warned_not_writable:
        return
    _warned_not_writable.add((str(folder), what))
    logger.warning(
        "folder %s is not writable (%s): not writing %s there (kept in memory only); %s",
        folder,
        exc.strerror or type(exc).__name__,
        what,
        fix,
    )


def check_path(path: str | os.PathLike) -> Path:
    """The check file of ``path`` (``<name>.check.json`` beside it), written by :func:`write_checked`."""
    path = Path(path)
    return path.with_name(path.name + ".check.json")


def _check_record(data: bytes) -> dict:
    return {"lines": data.count(b"\n"), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_checked(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` atomically, then its check file (line count, size, sha256) for :func:`verify_checked`."""
    atomic_write_bytes(path, data)
    atomic_write_bytes(check_path(path), json.dumps(_check_record(data)).encode() + b"\n")


def verify_checked(path: str | os.PathLike) -> str | None:
    """None if ``path`` still matches its check file, else why not (one phrase, for a message)."""
    try:
        want = json.loads(check_path(path).read_text())
        want = {k: want[k] for k in ("lines", "bytes", "sha256")}
    except FileNotFoundError:
        return f"it has no check file {check_path(path).name}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its check file {check_path(path).name} is unreadable"
    have = _check_record(Path(path).read_bytes())
    if have == want:
        return None
    if (have["lines"], have["bytes"]) == (want["lines"], want["bytes"]):
        return f"its checksum differs (same {have['lines']} lines and {have['bytes']} bytes: edited)"
    return (
        f"it was written with {want['lines']} lines ({want['bytes']} bytes) and now holds {have['lines']} "
        f"lines ({have['bytes']} bytes){'' if have['sha256'] == want['sha256'] else ', checksum differs'}"
    )


def shown(path: Any) -> str:
    r"""``path`` as printable text: bytes of a file name that are not UTF-8 become ``\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def bad_name_or_link(path: Path, is_link: bool) -> ValueError | None:
    """Why the directory entry ``path`` cannot be data: a name that is not UTF-8, a broken or looping link.

    ``is_link``: whether ``path`` is a symbolic link (only then is its target examined).
    """
    try:
        path.name.encode("utf-8")  # undecodable bytes of a name are lone surrogates in str
    except UnicodeEncodeError:
        return ValueError(f"{shown(path)}: name is not valid UTF-8; expected a UTF-8 name (rename it)")
    if not is_link or path.exists():
        return None
    try:
        path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return ValueError(f"{shown(path)}: symbolic link loop (following it never reaches a file); expected a file")
        return ValueError(f"{shown(path)}: broken symbolic link to {shown(os.readlink(path))}; expected a file")
    return None


def raise_or_skip(on_error: str, skipped: list, path: Any, error: Exception) -> None:
    """The data layer's one raise-or-skip policy for a bad file.

    ``on_error="raise"`` raises ``error`` (whose message names ``path``); ``"skip"`` appends
    ``(path, reason)`` to ``skipped``, the reason being the message without its leading ``"<path>: "``.
    """
    if on_error == "raise":
        raise error
    skipped.append((Path(path), str(error).removeprefix(f"{path}: ").removeprefix(f"{shown(path)}: ")))


def load_or_skip(reader, path: Any, on_error: str, skipped: list):
    """``reader(path)``; a bad file (``ValueError``/``FileNotFoundError``) goes to :func:`raise_or_skip` (None)."""
    try:
        return reader(path)
    except (ValueError, FileNotFoundError) as exc:
        raise_or_skip(on_error, skipped, path, exc)
        return None


def report_skipped(skipped: list, what: str) -> None:
    """Log a one-line count of skipped items (plus the first few) at WARNING level."""
    if skipped:
        head = "; ".join(f"{shown(p)}: {r}" for p, r in skipped[:3])
        more = f" (+{len(skipped) - 3} more)" if len(skipped) > 3 else ""
        logger.warning("%s: skipped %d bad file(s): %s%s", what, len(skipped), head, more)


def publish_folder(
    out: Path, write: Callable[[Path], None], what: str, done: Callable[[Path], bool] | None = None
) -> bool:
    """Write a generated dataset folder atomically: ``write`` fills a hidden sibling, which then replaces ``out``.

    A process killed mid-write leaves ``out`` as it was (plus, at worst, a hidden ``.partial`` folder).

    Parameters
    ----------
    out : Path
        The folder to publish.
    write : callable
        ``write(tmp)`` writes the whole dataset into the new folder ``tmp``.
    what : str
        The dataset, for the message when the folder of ``out`` is not writable.
    done : callable, optional
        ``done(out)`` says whether ``out`` holds a finished dataset; when another process published
        one while this one was writing, theirs is kept.

    Returns
    -------
    bool
        True if this call's folder was published, False if another process's was kept.

    Raises
    ------
    CacheNotWritableError
        The folder of ``out`` cannot be written (one line naming it).
    """
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
        except OSError as exc:
            if not is_not_writable(exc):
                raise
            raise CacheNotWritableError(
                f"{out.parent}: folder is not writable ({exc.strerror or type(exc).__name__}), cannot generate "
                f"{what} there; choose a writable folder (for the cache: set AVSNN_CACHE)"
            ) from None
        if out.exists():
            if done is not None and done(out):
                shutil.rmtree(tmp)
                return False
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, out)
            except OSError:
                if done is None or not done(out):
                    raise
                shutil.rmtree(tmp)
                return False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def generate_folder(
    out: Path,
    write: Callable[[Path], None],
    why_incomplete: Callable[[Path], str | None],
    what: str,
    *,
    overwrite: bool,
    describe: str,
    fix: str,
) -> bool:
    """Generate a dataset folder unless ``out`` already holds it intact; published by :func:`publish_folder`.

    Parameters
    ----------
    out : Path
        The dataset folder.
    write : callable
        ``write(tmp)`` writes the whole dataset into the new folder ``tmp``.
    why_incomplete : callable
        ``why_incomplete(out)``: None if ``out`` holds this dataset with intact files, else why not
        (one phrase, for a message).
    what : str
        The dataset, for messages (``"AV-Digits"``).
    overwrite : bool
        Replace an ``out`` that holds something else; else that is a ``ValueError``.
    describe, fix : str
        The refusal reads ``"<out>: exists but is not <describe> (<why>); <fix>"``.

    Returns
    -------
    bool
        True if written now, False if ``out`` already held the dataset (or another process finished it first).

    Raises
    ------
    ValueError
        ``out`` holds something else and ``overwrite`` is False.
    CacheNotWritableError
        The folder of ``out`` cannot be written (one line naming it).
    """
    why = why_incomplete(out) if out.exists() else "absent"
    if why is None:
        return False
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists but is not {describe} ({why}); {fix}")
    if out.is_dir() and any(out.iterdir()):
        logger.warning("%s: %s is not usable (%s): generating it again", out, what, why)
    return publish_folder(out, write, what, lambda o: why_incomplete(o) is None)
