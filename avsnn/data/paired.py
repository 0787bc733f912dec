"""The paired folder layout of released sets, one import away: scanning, source groups, splits, manifests.

The releases ship no split; :func:`make_split` draws a deterministic per-class split and the
manifest CSV records it so every run uses the same one. The names are defined by one module a
concern and served here under their long-standing path ``avsnn.data.paired``:

* :mod:`.scan` -- the two folder layouts, :class:`Sample`, :class:`ReleaseIndex`, :func:`scan_release`;
* :mod:`.source_groups` -- UrbanSound8K source recordings (:func:`source_group`);
* :mod:`.splits` -- :func:`make_split`;
* :mod:`.manifests` -- the split manifest CSV and its check file.
"""

from .manifests import (
    MANIFEST_COLUMNS,
    SHIPPED_SPLIT,
    DamagedManifestError,
    load_or_create_manifest,
    manifest_text,
    read_manifest,
    relative_path,
    write_manifest,
)
from .scan import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, LAYOUTS, ReleaseIndex, Sample, detect_layout, scan_release
from .source_groups import has_source_groups, source_group
from .splits import SPLITS, make_split

__all__ = [
    "LAYOUTS",
    "IMAGE_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "Sample",
    "ReleaseIndex",
    "detect_layout",
    "scan_release",
    "source_group",
    "has_source_groups",
    "SPLITS",
    "make_split",
    "MANIFEST_COLUMNS",
    "SHIPPED_SPLIT",
    "relative_path",
    "manifest_text",
    "write_manifest",
    "read_manifest",
    "DamagedManifestError",
    "load_or_create_manifest",
]
