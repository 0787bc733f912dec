"""Scan paired audio-visual releases (CIFAR10-AV, UrbanSound8K-AV) and manage train/test splits.

Supported layouts (class folders under each side; a sample is the image and the wav with the same
base name in the same class; labels are the sorted class-folder names):

* ``"release"``:    ``<root>/vision/<class>/<name>.png|jpg|jpeg`` + ``<root>/audio/<class>/<name>.wav``
* ``"dataset_v3"``: ``<root>/Dataset_v3_vision/<class>/<name>.jpg`` + ``<root>/Dataset_v3_sound/<class>/<name>.wav``

The releases ship no split; :func:`make_split` draws a deterministic per-class split and the
manifest CSV (``key,class,label,split,image,audio``) records it so every run uses the same one. A manifest
is written with a check file (line count, size, sha256; :func:`avsnn.data._util.write_checked`), so a
manifest cut short or edited afterwards is noticed when it is read back.
A folder may ship its own split as a manifest named ``split.csv`` beside the two modality folders
(AV-Digits does, to keep test voices out of training); :func:`avsnn.data.build_datasets` uses it.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._util import (
    CACHE_FIX,
    bad_name_or_link,
    check_on_error,
    check_path,
    is_not_writable,
    logger,
    raise_or_skip,
    report_skipped,
    shown,
    stable_hash,
    verify_checked,
    warn_not_writable,
    write_checked,
)

LAYOUTS = {"release": ("vision", "audio"), "dataset_v3": ("Dataset_v3_vision", "Dataset_v3_sound")}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
AUDIO_EXTENSIONS = (".wav",)
MANIFEST_COLUMNS = ("key", "class", "label", "split", "image", "audio")
SPLITS = ("train", "test")
SHIPPED_SPLIT = "split.csv"  # a manifest a dataset folder may ship (see the module docstring)


@dataclass(frozen=True)
class Sample:
    """One image/audio pair. ``key`` is ``"<class>/<base name>"``."""

    key: str
    label: int
    class_name: str
    image_path: Path
    audio_path: Path


@dataclass
class ReleaseIndex:
    """Result of :func:`scan_release`.

    Attributes
    ----------
    root : Path
        Folder holding the two modality folders.
    layout : str
        ``"release"`` or ``"dataset_v3"``.
    classes : list of str
        Sorted class folders present on both sides; ``label`` indexes this list.
    samples : list of Sample
        Pairs, sorted by key.
    unpaired_images, unpaired_audio : list of Path
        Files with no partner of the same class and base name.
    class_mismatch : dict
        ``{"vision_only": [...], "audio_only": [...]}``: class folders present on one side only.
    skipped : list of (Path, str)
        Bad data files left out (duplicate base names, names that are not UTF-8, broken or looping
        symbolic links; with ``on_error="skip"``), with the reason.
    ignored : list of (Path, str)
        Files that are not data (other extensions, files beside the class folders), with the reason.
    """

    root: Path
    layout: str
    classes: list
    samples: list
    unpaired_images: list = field(default_factory=list)
    unpaired_audio: list = field(default_factory=list)
    class_mismatch: dict = field(default_factory=lambda: {"vision_only": [], "audio_only": []})
    skipped: list = field(default_factory=list)
    ignored: list = field(default_factory=list)

    def by_key(self) -> dict:
        """``{key: Sample}``."""
        return {s.key: s for s in self.samples}

    def counts(self) -> dict:
        """Pairs per class, ``{class: n}``."""
        out = {c: 0 for c in self.classes}
        for s in self.samples:
            out[s.class_name] += 1
        return out

    def fingerprint(self) -> str:
        """Hash of root, layout and the sample keys (names a split manifest)."""
        return stable_hash([str(self.root.resolve()), self.layout, [s.key for s in self.samples]])

    def summary(self) -> str:
        """Human-readable report for ``avsnn data inspect``."""
        img, aud = LAYOUTS[self.layout]
        lines = [
            f"root:    {shown(self.root)}",
            f"layout:  {self.layout} ({img}/ + {aud}/)",
            f"classes: {len(self.classes)}, pairs: {len(self.samples)}",
        ]
        width = max([len(c) for c in self.classes] + [5])
        for i, (c, n) in enumerate(self.counts().items()):
            lines.append(f"  {i:2d} {c:<{width}} {n:6d}")
        for side, names in (
            ("vision only", self.class_mismatch["vision_only"]),
            ("audio only", self.class_mismatch["audio_only"]),
        ):
            if names:
                lines.append(f"class folders on the {side} side: {', '.join(names)}")
        for what, files in (("unpaired images", self.unpaired_images), ("unpaired audio", self.unpaired_audio)):
            lines.append(f"{what}: {len(files)}")
            lines.extend(f"  {shown(p)}" for p in files[:10])
            if len(files) > 10:
                lines.append(f"  ... {len(files) - 10} more")
        for what, files in (("ignored files (not data)", self.ignored), ("skipped bad files", self.skipped)):
            lines.append(f"{what}: {len(files)}")
            lines.extend(f"  {shown(p)}: {r}" for p, r in files[:20])
            if len(files) > 20:
                lines.append(f"  ... {len(files) - 20} more")
        return "\n".join(lines)


def detect_layout(root: str | os.PathLike) -> tuple[Path, str]:
    """Find the layout at ``root`` (or in its single sub-folder, as archives often extract).

    Returns
    -------
    (data_root, layout)
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: dataset root does not exist")
    if not root.is_dir():
        raise ValueError(f"{root}: dataset root is not a directory")

    def match(d: Path):
        for name, (img, aud) in LAYOUTS.items():
            if (d / img).is_dir() and (d / aud).is_dir():
                return name
        return None

    layout = match(root)
    if layout:
        return root, layout
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    found = [(d, match(d)) for d in subdirs]
    found = [(d, m) for d, m in found if m]
    if len(found) == 1:
        return found[0]
    expected = " or ".join(f"{a}/ + {b}/" for a, b in LAYOUTS.values())
    seen = ", ".join(d.name + "/" for d in subdirs[:10]) or "nothing"
    raise ValueError(f"{root}: unrecognised dataset layout; expected {expected} (class folders inside), found {seen}")


def _entries(folder: Path):
    """``(path, is_dir, is_link)`` of ``folder``'s entries by name, dot-entries left out.

    One ``stat`` per symbolic link only (the kind of other entries comes with the listing).
    """
    with os.scandir(folder) as it:
        found = sorted((e.name, e.is_symlink(), e.is_dir(follow_symlinks=False)) for e in it if e.name[0] != ".")
    for name, link, is_dir in found:
        path = folder / name
        yield path, path.is_dir() if link else is_dir, link


def _list_side(side: Path, extensions, on_error, skipped, ignored):
    """``{class: {base: path}}`` for one modality folder."""
    out = {}
    for cdir, is_dir, link in _entries(side):
        if not is_dir:
            ignored.append((cdir, "not a class folder"))
            continue
        if (bad := bad_name_or_link(cdir, link)) is not None:
            raise_or_skip(on_error, skipped, cdir, bad)
            continue
        files = {}
        for f, is_dir, link in _entries(cdir):
            if is_dir:
                continue
            if f.suffix.lower() not in extensions:
                ignored.append((f, f"unsupported extension (expected {'/'.join(extensions)})"))
                continue
            if (bad := bad_name_or_link(f, link)) is not None:
                raise_or_skip(on_error, skipped, f, bad)
                continue
            if f.stem in files:
                raise_or_skip(on_error, skipped, f, ValueError(f"{f}: duplicate base name (also {files[f.stem].name})"))
                continue
            files[f.stem] = f
        out[cdir.name] = files
    return out


def scan_release(root: str | os.PathLike, on_error: str = "raise") -> ReleaseIndex:
    """Index a paired release folder (see module docstring for layouts).

    Files are not opened here: empty or undecodable files are found when a dataset reads them (only the
    modality it uses) or by :func:`avsnn.data.cli.inspect_release`. Duplicate base names, names that are
    not UTF-8 and broken or looping symbolic links are errors
    (``on_error="raise"``) or skipped (``"skip"``); files with other extensions are ignored and listed.
    Unpaired files and classes found on one side only are reported in the index, not raised.

    Raises
    ------
    FileNotFoundError
        Missing root.
    ValueError
        Unrecognised layout, no pairs, or a bad file with ``on_error="raise"``.
    """
    check_on_error(on_error)
    data_root, layout = detect_layout(root)
    img_dir, aud_dir = (data_root / d for d in LAYOUTS[layout])
    skipped, ignored = [], []
    images = _list_side(img_dir, IMAGE_EXTENSIONS, on_error, skipped, ignored)
    audio = _list_side(aud_dir, AUDIO_EXTENSIONS, on_error, skipped, ignored)
    classes = sorted(set(images) & set(audio))
    mismatch = {"vision_only": sorted(set(images) - set(audio)), "audio_only": sorted(set(audio) - set(images))}
    samples, un_img, un_aud = [], [], []
    for label, c in enumerate(classes):
        for base in sorted(set(images[c]) | set(audio[c])):
            if base in images[c] and base in audio[c]:
                samples.append(Sample(f"{c}/{base}", label, c, images[c][base], audio[c][base]))
            elif base in images[c]:
                un_img.append(images[c][base])
            else:
                un_aud.append(audio[c][base])
    for c in mismatch["vision_only"]:
        un_img.extend(images[c].values())
    for c in mismatch["audio_only"]:
        un_aud.extend(audio[c].values())
    if not samples:
        raise ValueError(
            f"{data_root}: no image/audio pairs found in {img_dir.name}/ and {aud_dir.name}/; expected "
            f"<class>/<name>{'|'.join(IMAGE_EXTENSIONS)} beside <class>/<name>.wav with matching class "
            f"folders and base names (image classes: {sorted(images)[:10]}, audio classes: {sorted(audio)[:10]})"
        )
    index = ReleaseIndex(data_root, layout, classes, samples, un_img, un_aud, mismatch, skipped, ignored)
    if un_img or un_aud or mismatch["vision_only"] or mismatch["audio_only"]:
        logger.warning(
            "%s: %d unpaired image(s), %d unpaired audio file(s), one-sided classes %s",
            data_root,
            len(un_img),
            len(un_aud),
            mismatch,
        )
    if ignored:
        logger.info("%s: ignored %d non-data file(s), e.g. %s", data_root, len(ignored), ignored[0][0])
    report_skipped(skipped, str(data_root))
    return index


# UrbanSound8K slice names: fsID-classID-occurrenceID-sliceID (fsID: the Freesound recording)
_US8K_SLICE = re.compile(r"^(\d+)-(\d+)-(\d+)-(\d+)$")


def source_group(key: str) -> str:
    """The recording a sample was cut from (its split group).

    UrbanSound8K's ``fsID`` for keys ``<class>/<name>`` whose name is
    ``fsID-classID-occurrenceID-sliceID``, else the key itself (every sample its own group).
    """
    m = _US8K_SLICE.match(key.rsplit("/", 1)[-1])
    return f"fs{m.group(1)}" if m else key


def has_source_groups(index: ReleaseIndex) -> bool:
    """Whether any key carries an UrbanSound8K source id (so grouping changes the split)."""
    return any(_US8K_SLICE.match(s.key.rsplit("/", 1)[-1]) for s in index.samples)


def make_split(index: ReleaseIndex, train_frac: float = 0.7, seed: int = 0, group_by_source: bool = True) -> dict:
    """Deterministic per-class split: ``{key: "train" | "test"}``.

    Within each class the sorted groups are shuffled with a RNG seeded by ``(seed, class name)``
    and whole groups go to train until ``round(train_frac * n)`` samples are reached (at least one
    sample on each side when ``n >= 2``). With ``group_by_source`` (default) a group is the source
    recording of :func:`source_group`, so the slices of one UrbanSound8K recording never sit on
    both sides (a known leak of random splits on that dataset), across classes too; other names
    are groups of one, which gives a plain per-class split.
    """
    if not 0.0 < float(train_frac) < 1.0:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac!r}")
    group = source_group if group_by_source else (lambda k: k)
    per_class: dict = {}
    for s in index.samples:
        per_class.setdefault(s.class_name, {}).setdefault(group(s.key), []).append(s.key)
    side: dict = {}  # group -> "train" | "test", shared by all classes
    split = {}
    for c, groups in sorted(per_class.items()):
        n = sum(len(v) for v in groups.values())
        n_train = int(round(train_frac * n))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
        order = sorted(groups)
        random.Random(f"{seed}/{c}").shuffle(order)
        taken = sum(len(groups[g]) for g in order if side.get(g) == "train")
        for g in order:
            if g not in side:
                side[g] = "train" if taken < n_train else "test"
                taken += len(groups[g]) if side[g] == "train" else 0
            for k in groups[g]:
                split[k] = side[g]
    return {s.key: split[s.key] for s in index.samples}


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
