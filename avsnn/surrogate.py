"""``import avsnn.surrogate``: the very module :mod:`avsnn.core.surrogate` (no second copy)."""

import sys

from .core import surrogate as _surrogate

sys.modules[__name__] = _surrogate
