"""Datasets: generated sets, the paired folder layout of released sets, readers, audio features, splits.

The synthetic audio-visual set (:mod:`.synthetic`), AV-Digits (scanned digits + eSpeak
NG speech, :mod:`.avdigits`), the paired folder layout of released sets such as CIFAR10-AV and
UrbanSound8K-AV (:mod:`.scan`, :mod:`.source_groups`, :mod:`.splits`, :mod:`.manifests`; together
under :mod:`.paired`), plain CIFAR-10 / UrbanSound8K readers, audio features, splits and the
``avsnn data`` command (:mod:`.cli`).
"""

from typing import TYPE_CHECKING

from avsnn.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ serves, for type checkers and import-linter
    from ._util import CacheNotWritableError, default_cache_dir
    from .audio import AudioConfig, LogMel, SpectrogramCache, load_waveform, read_wav
    from .avdigits import AVDIGITS_CLASSES, ensure_avdigits, make_avdigits
    from .cifar10 import read_cifar10
    from .cli import add_data_parser, cmd_inspect, cmd_make_synthetic
    from .datasets import AVDataset, build_datasets, check_data_source, dataset_fingerprint, dataset_folder
    from .images import read_image
    from .manifests import DamagedManifestError, load_or_create_manifest, read_manifest, write_manifest
    from .scan import ReleaseIndex, Sample, scan_release
    from .splits import make_split
    from .synthetic import COMPLEMENTARY_PAIRS, SYNTHETIC_CLASSES, ensure_synthetic, make_synthetic
    from .urbansound8k import UrbanSound8KDataset, read_urbansound8k_metadata, urbansound8k_folds

#: public name -> the submodule defining it
_WHERE = {
    "CacheNotWritableError": "._util",
    "default_cache_dir": "._util",
    "AudioConfig": ".audio",
    "LogMel": ".audio",
    "SpectrogramCache": ".audio",
    "load_waveform": ".audio",
    "read_wav": ".audio",
    "AVDIGITS_CLASSES": ".avdigits",
    "ensure_avdigits": ".avdigits",
    "make_avdigits": ".avdigits",
    "read_cifar10": ".cifar10",
    "add_data_parser": ".cli",
    "cmd_inspect": ".cli",
    "cmd_make_synthetic": ".cli",
    "AVDataset": ".datasets",
    "build_datasets": ".datasets",
    "check_data_source": ".datasets",
    "dataset_fingerprint": ".datasets",
    "dataset_folder": ".datasets",
    "read_image": ".images",
    "DamagedManifestError": ".manifests",
    "load_or_create_manifest": ".manifests",
    "read_manifest": ".manifests",
    "write_manifest": ".manifests",
    "ReleaseIndex": ".scan",
    "Sample": ".scan",
    "scan_release": ".scan",
    "make_split": ".splits",
    "COMPLEMENTARY_PAIRS": ".synthetic",
    "SYNTHETIC_CLASSES": ".synthetic",
    "ensure_synthetic": ".synthetic",
    "make_synthetic": ".synthetic",
    "UrbanSound8KDataset": ".urbansound8k",
    "read_urbansound8k_metadata": ".urbansound8k",
    "urbansound8k_folds": ".urbansound8k",
}

__all__ = [
    "make_synthetic",
    "ensure_synthetic",
    "SYNTHETIC_CLASSES",
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
    "check_data_source",
    "default_cache_dir",
    "dataset_folder",
    "dataset_fingerprint",
    "read_cifar10",
    "read_urbansound8k_metadata",
    "urbansound8k_folds",
    "UrbanSound8KDataset",
    "add_data_parser",
    "cmd_inspect",
    "cmd_make_synthetic",
    "CacheNotWritableError",
    "DamagedManifestError",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
