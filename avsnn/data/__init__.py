"""Datasets: generated sets, the paired folder layout of released sets, readers, audio features, splits.

The synthetic "embedded" audio-visual set (:mod:`.synthetic`), AV-Digits (scanned digits + eSpeak
NG speech, :mod:`.avdigits`), the paired folder layout of released sets such as CIFAR10-AV and UrbanSound8K-AV
(:mod:`.paired`), plain CIFAR-10 / UrbanSound8K readers, audio features, splits and the ``avsnn data`` command
(:mod:`.cli`).
"""

from ._util import CacheNotWritableError
from .audio import AudioConfig, LogMel, SpectrogramCache, load_waveform, read_wav
from .avdigits import AVDIGITS_CLASSES, ensure_avdigits, make_avdigits
from .cifar10 import read_cifar10
from .cli import add_data_parser, cmd_inspect, cmd_make_embedded
from .datasets import AVDataset, build_datasets, dataset_fingerprint, dataset_folder
from .images import read_image
from .paired import (
    DamagedManifestError,
    ReleaseIndex,
    Sample,
    load_or_create_manifest,
    make_split,
    read_manifest,
    scan_release,
    write_manifest,
)
from .synthetic import COMPLEMENTARY_PAIRS, EMBEDDED_CLASSES, ensure_embedded, make_embedded
from .urbansound8k import UrbanSound8KDataset, read_urbansound8k_metadata, urbansound8k_folds

__all__ = [
    "make_embedded",
    "ensure_embedded",
    "EMBEDDED_CLASSES",
    "COMPLEMENTARY_PAIRS",
    "make_avdigits",
    "ensure_avdigits",
    "AVDIGITS_CLASSES",
    "scan_release",
    "ReleaseIndex",
    "Sample",
    "make_split",
    "load_or_create_manifest",
    "read_manifest",
    "write_manifest",
    "AudioConfig",
    "read_wav",
    "load_waveform",
    "LogMel",
    "SpectrogramCache",
    "read_image",
    "AVDataset",
    "build_datasets",
    "dataset_folder",
    "dataset_fingerprint",
    "read_cifar10",
    "read_urbansound8k_metadata",
    "urbansound8k_folds",
    "UrbanSound8KDataset",
    "add_data_parser",
    "cmd_inspect",
    "cmd_make_embedded",
    "CacheNotWritableError",
    "DamagedManifestError",
]
