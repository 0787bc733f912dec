"""UrbanSound8K source groups: the recording a slice was cut from, so that a split keeps its slices together."""

from __future__ import annotations

import re

from .scan import ReleaseIndex

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
