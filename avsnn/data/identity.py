"""A dataset's identity is its content: sha256 of its files, cached by path, size and mtime.

:func:`content_fingerprint` hashes the sorted ``relative path, sha256`` lines of a folder's files.
Reading every byte of a large dataset on every run would be slow, so each file's sha256 is kept in
an index (``<cache>/fingerprints/<hash of the folder>.json``) under its relative path with the size
and ``mtime_ns`` it had when hashed, as DVC and git do: a file whose size and mtime are unchanged
costs one ``stat``, any other is read and hashed again. An entry is stored only for a file whose
mtime is more than :data:`RACY_NS` older than the hashing, so a file rewritten right after it was
hashed on a coarse-clock file system is not mistaken for unchanged (git's "racily clean" files).
What it cannot see: a file changed with its size and mtime put back (a deliberate ``touch -d``),
and changes while a run reads the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from avsnn.files import atomic_write_bytes

from ._util import is_not_writable, resolve_cache_dir, shown, stable_hash, warn_not_writable

INDEX_VERSION = 1
RACY_NS = 2_000_000_000  # files modified less than this before hashing are hashed again next time


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_path(root: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The hash index of the folder ``root`` in the cache."""
    return resolve_cache_dir(cache_dir) / "fingerprints" / f"{stable_hash(shown(Path(root).resolve()))}.json"


def _read_index(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data["files"] if data.get("version") == INDEX_VERSION and isinstance(data["files"], dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # missing or damaged: hash again
        return {}


def content_hashes(root: str | os.PathLike, files, cache_dir: str | os.PathLike | None = None) -> dict:
    """``{relative path: sha256}`` of ``files`` (paths relative to ``root``), through the hash index.

    Raises ``OSError`` naming a file that cannot be read (missing, no permission).
    """
    root = Path(root)
    index = index_path(root, cache_dir)
    known = _read_index(index)
    started = time.time_ns()
    out, fresh = {}, {}
    for rel in files:
        path = os.path.join(root, rel)
        st = os.stat(path)
        entry = known.get(rel)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [st.st_size, st.st_mtime_ns]:
            out[rel] = entry[2]
            continue
        out[rel] = file_sha256(path)
        if st.st_mtime_ns < started - RACY_NS:
            fresh[rel] = [st.st_size, st.st_mtime_ns, out[rel]]
    if fresh:
        text = json.dumps({"version": INDEX_VERSION, "root": shown(root.resolve()), "files": {**known, **fresh}})
        try:
            atomic_write_bytes(index, text.encode(), durable=False)  # a cache
        except OSError as exc:
            if not is_not_writable(exc):
                raise
            warn_not_writable(index.parent, exc, "the file hash index")
    return out


def fingerprint_of(hashes: dict) -> str:
    """sha256 (16 hex digits) of the sorted ``relative path, sha256`` lines of ``{relative path: sha256}``."""
    text = "".join(f"{rel}\t{hashes[rel]}\n" for rel in sorted(hashes))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def content_fingerprint(root: str | os.PathLike, files, cache_dir: str | os.PathLike | None = None) -> str:
    """:func:`fingerprint_of` the :func:`content_hashes` of ``files`` under ``root``."""
    return fingerprint_of(content_hashes(root, files, cache_dir))
