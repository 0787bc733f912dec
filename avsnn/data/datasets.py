"""In-memory PyTorch datasets over paired releases, and the :func:`build_datasets` factory."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..console import did_you_mean
from ._util import check_on_error, load_or_skip, logger, report_skipped, resolve_cache_dir, stable_hash
from .audio import AudioConfig, SpectrogramCache
from .avdigits import ensure_avdigits
from .identity import content_fingerprint
from .images import IMAGE_SIZE, read_image, stored_side
from .manifests import SHIPPED_SPLIT, load_or_create_manifest, read_manifest, relative_path
from .scan import ReleaseIndex, scan_release
from .source_groups import has_source_groups
from .synthetic import ensure_synthetic, make_synthetic

MODALITIES = ("vision", "audio", "both")


class SpectrogramNormalizer:
    """Mixin: scalar mean/std normalisation of ``self.spectrograms`` (stats from the train split)."""

    spectrograms: torch.Tensor
    normalizer: tuple | None

    def fit_normalizer(self) -> tuple:
        """Set and return ``(mean, std)`` of this dataset's log-mel values (call on the train split)."""
        if self.spectrograms.numel() == 0:
            raise ValueError("cannot fit the spectrogram normaliser: this dataset holds no spectrograms")
        x = self.spectrograms.to(torch.float64)
        mean, std = float(x.mean()), float(x.std())
        self.normalizer = (mean, max(std, 1e-6))
        return self.normalizer

    def set_normalizer(self, normalizer) -> None:
        """Use ``(mean, std)`` (e.g. the train split's) for this dataset."""
        mean, std = (float(v) for v in normalizer)
        if not std > 0:
            raise ValueError(f"normalizer std must be > 0, got {std}")
        self.normalizer = (mean, std)

    def normalized_spectrograms(self) -> torch.Tensor:
        """All spectrograms normalised, ``[N, 1, n_mels, n_frames]``."""
        if self.normalizer is None:
            raise RuntimeError(
                "no spectrogram normaliser: call fit_normalizer() on the train split and "
                "pass its result as normalizer=(mean, std) to the other splits"
            )
        mean, std = self.normalizer
        return (self.spectrograms - mean) / std


class AVDataset(SpectrogramNormalizer, Dataset):
    """One split of a paired release, preloaded into memory tensors.

    Parameters
    ----------
    index : ReleaseIndex
        From :func:`scan_release`.
    split : dict
        ``{key: "train" | "test"}``; samples not in it are left out.
    which : {"train", "test"}
        Split to hold.
    modality : {"vision", "audio", "both"}
        Which inputs to load and return.
    audio : AudioConfig
        Waveform / log-mel settings.
    cache_dir : path-like or None
        Spectrogram disk cache (None: compute every time).
    on_error : {"raise", "skip"}
        Unreadable files of the chosen modality raise ``ValueError`` naming the file, or drop the sample
        (``self.skipped``); files of the other modality are never opened.
    normalizer : (mean, std) or None
        Spectrogram statistics; for the train split call :meth:`fit_normalizer` instead.
    progress : bool
        Show a tqdm bar while preloading.
    image_size : int or None
        Side the images are read at (:func:`avsnn.data.images.read_image` resizes them); ``None``: the
        side the dataset stores.

    Attributes
    ----------
    images : uint8 ``[N, 3, 32, 32]`` (vision/both)
    spectrograms : float32 ``[N, 1, n_mels, n_frames]`` raw log-mel (audio/both)
    labels : int64 ``[N]``
    keys : list of str
    classes : list of str
    skipped : list of (Path, str)

    ``ds[i]`` is ``{"image": float [3, S, S] in [0, 1] (S: ``image_size``, else the side the dataset
    stores, see :func:`avsnn.data.images.stored_side`), "audio": normalised [1, n_mels, n_frames],
    "label": int, "index": i}`` with only the keys of the chosen modality.
    """

    def __init__(
        self,
        index: ReleaseIndex,
        split: dict,
        which: str = "train",
        modality: str = "both",
        audio: AudioConfig = AudioConfig(),
        cache_dir: str | os.PathLike | None = None,
        on_error: str = "raise",
        normalizer: tuple | None = None,
        progress: bool = False,
        image_size: int | None = None,
    ):
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if which not in ("train", "test"):
            raise ValueError(f"which must be 'train' or 'test', got {which!r}")
        check_on_error(on_error)
        self.index, self.which, self.modality, self.audio_config = index, which, modality, audio
        self.classes = list(index.classes)
        self.skipped: list = []
        self.normalizer = None
        if normalizer is not None:
            self.set_normalizer(normalizer)
        want_img, want_aud = modality in ("vision", "both"), modality in ("audio", "both")
        cache = SpectrogramCache(cache_dir, audio) if want_aud else None
        chosen = [s for s in index.samples if split.get(s.key) == which]
        self.image_size = image_size or (stored_side(s.image_path for s in index.samples) if want_img else IMAGE_SIZE)
        read = functools.partial(read_image, size=self.image_size)
        images, specs, labels, keys = [], [], [], []
        for s in tqdm(chosen, desc=f"loading {which}", disable=not progress, leave=False):
            img = load_or_skip(read, s.image_path, on_error, self.skipped) if want_img else None
            spec = load_or_skip(cache.get, s.audio_path, on_error, self.skipped) if want_aud else None
            if (want_img and img is None) or (want_aud and spec is None):
                continue
            if want_img:
                images.append(img)
            if want_aud:
                specs.append(spec)
            labels.append(s.label)
            keys.append(s.key)
        report_skipped(self.skipped, f"{index.root} ({which})")
        if not keys:
            raise ValueError(f"{index.root}: the {which!r} split has no usable samples")
        self.keys = keys
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.images = (
            torch.stack(images) if want_img else torch.empty(0, 3, self.image_size, self.image_size, dtype=torch.uint8)
        )
        self.spectrograms = (
            torch.stack(specs) if want_aud else torch.empty(0, 1, audio.n_mels, audio.n_frames, dtype=torch.float32)
        )
        if cache is not None and cache.rebuilt:
            logger.warning("%d corrupt spectrogram cache entries were rebuilt", cache.rebuilt)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for dataset of size {len(self)}")
        i %= len(self)
        item = {}
        if self.modality in ("vision", "both"):
            item["image"] = self.images[i].to(torch.float32) / 255.0
        if self.modality in ("audio", "both"):
            if self.normalizer is None:
                self.normalized_spectrograms()  # raises the explanatory RuntimeError
            mean, std = self.normalizer
            item["audio"] = (self.spectrograms[i] - mean) / std
        item["label"] = int(self.labels[i])
        item["index"] = i
        return item

    def tensors(self) -> dict:
        """Whole split as batched tensors (same keys and scaling as ``ds[i]``), for fast CPU training."""
        out = {}
        if self.modality in ("vision", "both"):
            out["image"] = self.images.to(torch.float32) / 255.0
        if self.modality in ("audio", "both"):
            out["audio"] = self.normalized_spectrograms()
        out["label"] = self.labels
        out["index"] = torch.arange(len(self))
        return out


GENERATED_DATASETS = ("synthetic", "avdigits")  # made from a seed by this package, cached
NAMED_RELEASES = ("release", "cifar10-av", "urbansound8k-av")  # a folder given in root=
NAMED_DATASETS = GENERATED_DATASETS + NAMED_RELEASES
#: other names accepted for a dataset, and the name they stand for ("embedded": the synthetic set's first name)
DATASET_ALIASES = {"embedded": "synthetic"}


def dataset_name(data):
    """The canonical name of ``data``: an alias (:data:`DATASET_ALIASES`) replaced, anything else unchanged."""
    return DATASET_ALIASES.get(data, data) if isinstance(data, str) else data


def check_data_source(data: str, root: str | os.PathLike | None = None) -> None:
    """Check ``data`` and ``root`` as :func:`build_datasets` takes them, reading no data file.

    A dataset folder that does not exist is a ``FileNotFoundError`` naming the nearest dataset name or
    sibling folder (``did you mean 'avdigits'?``); a ``root`` given where none is taken, or missing
    where one is needed, a ``ValueError``.
    """
    data = dataset_name(data)
    if data == "synthetic":
        return
    if data == "avdigits":
        if root is not None:
            raise ValueError(
                "data='avdigits' takes no root (write one with `avsnn data make-avdigits --out DIR` "
                "and pass DIR as data)"
            )
        return
    if data in NAMED_RELEASES:
        if root is None:
            raise ValueError(f"data={data!r} needs root= pointing at the dataset folder")
        return
    if root is not None:
        raise ValueError(f"give the dataset folder either as data or as root, not both (data={data!r})")
    folder = Path(data)
    if not folder.exists():
        raise FileNotFoundError(
            f"{folder}: dataset folder not found; data must be 'avdigits', 'synthetic' or "
            f"an existing folder with vision/ + audio/ (or Dataset_v3_*) inside{_nearest_dataset(folder)}"
        )


def _nearest_dataset(folder: Path) -> str:
    """``"; did you mean ..."`` for a mistyped dataset: the nearest dataset name or folder beside ``folder``."""
    siblings = {}
    if folder.parent.is_dir():
        with os.scandir(folder.parent) as entries:
            siblings = {e.name: e.path for e in entries if not e.name.startswith(".") and e.is_dir()}
    return did_you_mean(folder.name, NAMED_DATASETS, aliases=siblings)


def build_datasets(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    modality: str = "both",
    audio: AudioConfig = AudioConfig(),
    train_frac: float = 0.7,
    seed: int = 0,
    manifest: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    on_error: str = "raise",
    per_class: int | None = None,
    progress: bool = False,
    image_size: int | None = None,
) -> tuple[AVDataset, AVDataset]:
    """Build the (train, test) datasets.

    Parameters
    ----------
    data : str
        ``"synthetic"`` (the synthetic set, generated once into the cache, or into ``root`` if given;
        ``"embedded"`` is accepted for it),
        ``"avdigits"`` (AV-Digits at its default settings, generated once into the cache), a path
        to a folder in a supported layout (``vision/ + audio/`` or ``Dataset_v3_vision/ +
        Dataset_v3_sound/``), or one of ``"release"``, ``"cifar10-av"``, ``"urbansound8k-av"`` with
        the folder in ``root``.
    root : path-like, optional
        The dataset folder for ``"release"``, ``"cifar10-av"`` and ``"urbansound8k-av"`` (required there);
        for ``"synthetic"``, the folder it is generated into instead of the cache. Other values of ``data``
        take none.
    modality, audio, on_error, progress, image_size
        Passed to :class:`AVDataset`.
    train_frac, seed
        Per-class split drawn by :func:`make_split` when the manifest does not exist yet.
    manifest : path-like, optional
        Split CSV to use (created there if missing; refused if changed since written). Default: the
        folder's own ``split.csv`` if it ships one (as AV-Digits does), else
        ``<cache_dir>/splits/<hash>.csv``, redrawn with a warning if damaged.
    cache_dir : path-like, optional
        Cache root (generated sets, spectrograms, splits); default :func:`~avsnn.data.default_cache_dir`.
    per_class : int, optional
        Synthetic set: samples per class to generate. Folder: use at most this many pairs per class
        (the first in key order), for quick runs.

    Returns
    -------
    (train, test) : tuple of AVDataset
        The test split uses the train split's spectrogram statistics.
    """
    check_on_error(on_error)
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    data = dataset_name(data)
    check_data_source(data, root)
    cache = resolve_cache_dir(cache_dir)
    split = None
    index = scan_release(dataset_folder(data, root=root, seed=seed, per_class=per_class, cache_dir=cache), on_error)
    if data != "synthetic":
        if manifest is None and (index.root / SHIPPED_SPLIT).is_file():  # checked against all samples
            split = read_manifest(index.root / SHIPPED_SPLIT, index)
            logger.info("%s: using the split the data ships (train_frac, seed unused)", index.root / SHIPPED_SPLIT)
        if per_class is not None:
            index = _limit_per_class(index, int(per_class))
    if split is None:
        cached = manifest is None
        if cached:
            key = [index.fingerprint(), train_frac, seed]
            if has_source_groups(index):  # recordings kept on one side: a different split than before
                key.append("source-groups")
            manifest = cache / "splits" / f"{stable_hash(key)}.csv"
        split = load_or_create_manifest(index, manifest, train_frac=train_frac, seed=seed, cached=cached)
    spec_cache = cache / "spectrograms"
    kw = dict(
        modality=modality,
        audio=audio,
        cache_dir=spec_cache,
        on_error=on_error,
        progress=progress,
        image_size=image_size,
    )
    train = AVDataset(index, split, "train", **kw)
    normalizer = train.fit_normalizer() if modality != "vision" else None
    test = AVDataset(index, split, "test", normalizer=normalizer, **kw)
    return train, test


def dataset_folder(
    data: str,
    *,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    per_class: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The folder :func:`build_datasets` reads for these arguments; a generated set is generated (once) first.

    Raises
    ------
    ValueError
        A root given where none is taken, or missing where one is needed (:func:`check_data_source`).
    FileNotFoundError
        The dataset folder does not exist (:func:`check_data_source`).
    """
    data = dataset_name(data)
    check_data_source(data, root)
    cache = resolve_cache_dir(cache_dir)
    if data == "synthetic":
        opts = {"seed": seed} if per_class is None else {"seed": seed, "per_class": per_class}
        return make_synthetic(root, **opts) if root is not None else ensure_synthetic(cache, **opts)
    if data == "avdigits":  # AV-Digits at its default settings, generated once into the cache
        return ensure_avdigits(cache)
    return Path(root) if data in NAMED_RELEASES else Path(data)


def dataset_fingerprint(
    data: str, *, root: str | os.PathLike | None = None, seed: int = 0, per_class: int | None = None
) -> str:
    """Content fingerprint of the dataset :func:`build_datasets` reads for these arguments.

    The :func:`avsnn.data.identity.content_fingerprint` of every paired image and audio file
    :func:`scan_release` finds in the folder (all classes, before ``per_class``) and of the split file
    the folder ships, with their hashes kept in the default cache. A generated set is checked against
    the content recorded when it was generated (and generated again if it differs).
    """
    index = scan_release(dataset_folder(data, root=root, seed=seed, per_class=per_class))
    files = [relative_path(p, index.root) for s in index.samples for p in (s.image_path, s.audio_path)]
    if (index.root / SHIPPED_SPLIT).is_file():
        files.append(SHIPPED_SPLIT)
    return content_fingerprint(index.root, files)


def _limit_per_class(index: ReleaseIndex, per_class: int) -> ReleaseIndex:
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    seen: dict = {}
    kept = []
    for s in index.samples:
        if seen.get(s.class_name, 0) < per_class:
            kept.append(s)
            seen[s.class_name] = seen.get(s.class_name, 0) + 1
    return ReleaseIndex(
        index.root,
        index.layout,
        index.classes,
        kept,
        index.unpaired_images,
        index.unpaired_audio,
        index.class_mismatch,
        index.skipped,
        index.ignored,
    )
