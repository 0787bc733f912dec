"""Reader for plain UrbanSound8K (``metadata/UrbanSound8K.csv`` + ``audio/fold1..10``), 10-fold protocol."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ._util import check_on_error, load_or_skip, report_skipped
from .audio import AudioConfig, SpectrogramCache
from .datasets import SpectrogramNormalizer

METADATA = Path("metadata") / "UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
N_FOLDS = 10


@dataclass(frozen=True)
class UrbanSoundRow:
    """One metadata row; ``path`` is ``<root>/audio/fold<fold>/<slice_file_name>``."""

    slice_file_name: str
    fsID: int
    start: float
    end: float
    salience: int
    fold: int
    classID: int
    class_name: str
    path: Path


def read_urbansound8k_metadata(root: str | os.PathLike, check_files: bool = True, on_error: str = "raise") -> list:
    """Rows of ``metadata/UrbanSound8K.csv`` as :class:`UrbanSoundRow`.

    Parameters
    ----------
    root : path-like
        The UrbanSound8K folder: ``metadata/UrbanSound8K.csv`` and ``audio/fold1..fold10/``.
    check_files : bool
        Verify each row's audio file exists; missing ones raise ``FileNotFoundError`` listing them
        (``on_error="raise"``) or are dropped with a warning (``"skip"``).
    on_error : str
        ``"raise"`` or ``"skip"``: what a missing audio file does (see ``check_files``).
    """
    check_on_error(on_error)
    root = Path(root).expanduser()
    meta = root / METADATA
    if not meta.is_file():
        raise FileNotFoundError(
            f"{meta}: UrbanSound8K metadata not found; expected <root>/metadata/UrbanSound8K.csv "
            f"and <root>/audio/fold1..fold10/"
        )
    rows = []
    with open(meta, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{meta}: missing column(s) {missing}; expected {','.join(COLUMNS)}")
        for line, r in enumerate(reader, start=2):
            try:
                fold = int(r["fold"])
                row = UrbanSoundRow(
                    r["slice_file_name"],
                    int(r["fsID"]),
                    float(r["start"]),
                    float(r["end"]),
                    int(r["salience"]),
                    fold,
                    int(r["classID"]),
                    r["class"],
                    root / "audio" / f"fold{fold}" / r["slice_file_name"],
                )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{meta}:{line}: bad row {r} ({exc})") from exc
            if not 1 <= row.fold <= N_FOLDS:
                raise ValueError(f"{meta}:{line}: fold must be 1..{N_FOLDS}, got {row.fold}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{meta}: no rows")
    if check_files:
        absent = [r.path for r in rows if not r.path.is_file()]
        if absent:
            if on_error == "raise":
                raise FileNotFoundError(
                    f"{root}: {len(absent)} audio file(s) listed in {METADATA} are missing, "
                    f"e.g. {[str(p) for p in absent[:5]]}"
                )
            skipped = [(p, "audio file missing") for p in absent]
            report_skipped(skipped, str(root))
            absent_set = set(absent)
            rows = [r for r in rows if r.path not in absent_set]
    return rows


def urbansound8k_folds(root: str | os.PathLike, test_fold: int, **kwargs) -> tuple[list, list]:
    """Official protocol split: rows of fold ``test_fold`` (1..10) for test, the other nine for train."""
    if not 1 <= int(test_fold) <= N_FOLDS:
        raise ValueError(f"test_fold must be 1..{N_FOLDS}, got {test_fold!r}")
    rows = read_urbansound8k_metadata(root, **kwargs)
    return [r for r in rows if r.fold != test_fold], [r for r in rows if r.fold == test_fold]


class UrbanSound8KDataset(SpectrogramNormalizer, Dataset):
    """UrbanSound8K clips of the given folds, preloaded as log-mel spectrograms.

    ``ds[i]`` is ``{"audio": [1, n_mels, n_frames], "label": classID, "index": i}``; the spectrogram
    is normalised when a normaliser is set (:meth:`fit_normalizer` on the train folds, then
    ``normalizer=`` for the test fold), raw log-mel otherwise.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        folds,
        audio_cfg: AudioConfig = AudioConfig(),
        cache_dir: str | os.PathLike | None = None,
        on_error: str = "raise",
        normalizer: tuple | None = None,
        progress: bool = False,
    ):
        check_on_error(on_error)
        folds = sorted({int(f) for f in folds})
        if not folds or any(not 1 <= f <= N_FOLDS for f in folds):
            raise ValueError(f"folds must be a non-empty subset of 1..{N_FOLDS}, got {folds}")
        rows = [r for r in read_urbansound8k_metadata(root, on_error=on_error) if r.fold in folds]
        self.audio_config, self.skipped, self.normalizer = audio_cfg, [], None
        if normalizer is not None:
            self.set_normalizer(normalizer)
        cache = SpectrogramCache(cache_dir, audio_cfg)
        names = {}
        for r in rows:
            names.setdefault(r.classID, r.class_name)
        self.classes = [names.get(i, str(i)) for i in range(max(names) + 1)] if names else []
        specs, labels, self.rows = [], [], []
        for r in tqdm(rows, desc="loading UrbanSound8K", disable=not progress, leave=False):
            spec = load_or_skip(cache.get, r.path, on_error, self.skipped)
            if spec is None:
                continue
            specs.append(spec)
            labels.append(r.classID)
            self.rows.append(r)
        report_skipped(self.skipped, str(root))
        if not specs:
            raise ValueError(f"{root}: no usable clips in folds {folds}")
        self.spectrograms = torch.stack(specs)
        self.labels = torch.tensor(labels, dtype=torch.int64)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        i = int(i) % len(self) if -len(self) <= int(i) < len(self) else None
        if i is None:
            raise IndexError(f"index out of range for dataset of size {len(self)}")
        spec = self.spectrograms[i]
        if self.normalizer is not None:
            spec = (spec - self.normalizer[0]) / self.normalizer[1]
        return {"audio": spec, "label": int(self.labels[i]), "index": i}
