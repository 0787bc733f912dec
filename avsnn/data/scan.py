"""Scan a paired audio-visual folder (CIFAR10-AV, UrbanSound8K-AV, generated sets) into image/audio pairs.

Supported layouts (class folders under each side; a sample is the image and the wav with the same
base name in the same class; labels are the sorted class-folder names):

* ``"release"``:    ``<root>/vision/<class>/<name>.png|jpg|jpeg`` + ``<root>/audio/<class>/<name>.wav``
* ``"dataset_v3"``: ``<root>/Dataset_v3_vision/<class>/<name>.jpg`` + ``<root>/Dataset_v3_sound/<class>/<name>.wav``
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._util import bad_name_or_link, check_on_error, logger, raise_or_skip, report_skipped, shown, stable_hash

LAYOUTS = {"release": ("vision", "audio"), "dataset_v3": ("Dataset_v3_vision", "Dataset_v3_sound")}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
AUDIO_EXTENSIONS = (".wav",)


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
