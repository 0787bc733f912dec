"""Split manifests: the CSV (``key,class,label,split,image,audio``) that records a split so every run uses the same one.

A manifest is written with a check file (line count, size, sha256; :func:`avsnn.data._util.write_checked`),
so a manifest cut short or edited afterwards is noticed when it is read back. A folder may ship its own
split as a manifest named ``split.csv`` beside the two modality folders (AV-Digits does, to keep test
voices out of training); :func:`avsnn.data.build_datasets` uses it.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ._util import CACHE_FIX, check_path, is_not_writable, logger, verify_checked, warn_not_writable, write_checked
from .scan import ReleaseIndex
from .splits import SPLITS, make_split

MANIFEST_COLUMNS = ("key", "class", "label", "split", "image", "audio")
SHIPPED_SPLIT = "split.csv"  # a manifest a dataset folder may ship (see the module docstring)


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (``path`` as it is when outside ``root``)."""
    text, prefix = os.fspath(path), os.path.join(root, "")
    if text.startswith(prefix):  # a path the scanner built under root (the fast way for large sets)
        return text[len(prefix) :].replace(os.sep, "/")
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def manifest_text(index: ReleaseIndex, split: dict) -> str:
    """CSV text of a manifest (see :func:`write_manifest`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for s in index.samples:
        if s.key in split:
            w.writerow(
                [
                    s.key,
                    s.class_name,
                    s.label,
                    split[s.key],
                    relative_path(s.image_path, index.root),
                    relative_path(s.audio_path, index.root),
                ]
            )
    return buf.getvalue()


def write_manifest(path: str | os.PathLike, index: ReleaseIndex, split: dict) -> Path:
    """Write the split as CSV ``key,class,label,split,image,audio`` (paths relative to the root), atomically.

    Its check file ``<name>.check.json`` is written beside it.
    """
    bad = sorted(set(v for v in split.values()) - set(SPLITS))
    if bad:
        raise ValueError(f"split values must be 'train' or 'test', got {bad}")
    path = Path(path)
    write_checked(path, manifest_text(index, split).encode("utf-8"))
    return path


def read_manifest(path: str | os.PathLike, index: ReleaseIndex) -> dict:
    """Read a manifest CSV into ``{key: split}``, checked against ``index``.

    Only the ``key`` and ``split`` columns are required; ``class``/``label`` are checked when present.
    Samples of the index absent from the manifest are simply not used.

    Raises
    ------
    FileNotFoundError
        ``path`` is missing.
    ValueError
        Missing columns, unknown keys, bad split values, duplicated keys, or class/label disagreeing
        with the scanned data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest file not found")
    by_key = index.by_key()
    try:  # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column name
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: manifest is not UTF-8 text ({e.reason} at byte {e.start}); save it as CSV UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    cols = reader.fieldnames or []
    missing = [c for c in ("key", "split") if c not in cols]
    if missing:
        raise ValueError(f"{path}: manifest lacks column(s) {missing}; expected header {','.join(MANIFEST_COLUMNS)}")
    split, unknown = {}, []
    for line, row in enumerate(reader, start=2):
        if not any(isinstance(v, str) and v.strip() for v in row.values()):  # a blank row a spreadsheet adds
            continue
        key = row["key"]
        if key not in by_key:
            unknown.append(key)
            continue
        if row["split"] not in SPLITS:
            raise ValueError(f"{path}:{line}: split must be 'train' or 'test', got {row['split']!r}")
        if key in split:
            raise ValueError(f"{path}:{line}: key {key!r} appears twice")
        s = by_key[key]
        if "class" in cols and row["class"] and row["class"] != s.class_name:
            raise ValueError(f"{path}:{line}: class {row['class']!r} for {key!r}, data says {s.class_name!r}")
        if "label" in cols and row["label"]:
            try:
                label = int(row["label"])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: label must be an integer class index "
                    f"(0..{len(index.classes) - 1}), got {row['label']!r}"
                ) from None
            if label != s.label:
                raise ValueError(f"{path}:{line}: label {label} for {key!r}, data says {s.label}")
        split[key] = row["split"]
    if unknown:
        raise ValueError(
            f"{path}: {len(unknown)} manifest key(s) not in the dataset at {index.root}: "
            f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''}"
        )
    if not split:
        raise ValueError(f"{path}: manifest has no rows")
    return split


class DamagedManifestError(ValueError):
    """A manifest no longer matches the check file written with it."""


def load_or_create_manifest(
    index: ReleaseIndex, path: str | os.PathLike, train_frac: float = 0.7, seed: int = 0, cached: bool = False
) -> dict:
    """Read the manifest at ``path``; if absent, draw :func:`make_split` and write it first (atomically).

    A manifest that no longer matches its check file (cut short, edited) is never used as is:
    ``cached=True`` (a manifest the package keeps in its cache) redraws and rewrites it with a warning,
    otherwise :class:`DamagedManifestError` is raised. A manifest without a check file is a user's
    own file and is read as it is, except in the cache, where it is redrawn.
    If the manifest cannot be written (read-only folder) the split is used from memory, with a warning.
    """
    path = Path(path)
    if path.exists():
        problem = verify_checked(path)
        if problem is None or (not cached and not check_path(path).exists()):
            return read_manifest(path, index)
        if not cached:
            raise DamagedManifestError(
                f"{path}: split manifest changed since it was written: {problem}; delete it to draw the split "
                f"again, or delete {check_path(path).name} to use it as it is now"
            )
        logger.warning("%s: cached split manifest is damaged (%s): drawing the split again", path, problem)
    split = make_split(index, train_frac=train_frac, seed=seed)
    try:
        write_manifest(path, index, split)
    except OSError as exc:
        if not is_not_writable(exc):
            raise
        warn_not_writable(
            path.parent,
            exc,
            "the split manifest",
            CACHE_FIX if cached else "give a manifest path in a writable folder to keep it",
        )
        return split
    logger.info("wrote split manifest %s", path)
    return split
