"""Which parameters the book's chapters are built with: their own (the CPU book) or the GPU book's.

One environment variable, :data:`VARIABLE` (``AVSNN_BOOK_PROFILE``), selects the book a build makes
(``make book AVSNN_BOOK_PROFILE=gpu``):

``auto`` (or unset)
    ``gpu`` where CUDA is available, else ``default``.
``default``
    Every chapter runs with the values of its own ``parameters`` cell (the CPU book).
``gpu``
    Every chapter that trains runs at the ``gpu`` training profile (:mod:`avsnn.train.profiles`: the
    paper's networks, sized to build the whole book in minutes on one H100/H200) over
    :data:`GPU_SEEDS`, the ablation of chapter 09 and the intro included (:data:`GPU_BOOK`).

The values are given to a chapter as papermill gives them: a code cell tagged ``injected-parameters``
right after its ``parameters`` cell (:func:`inject_parameters`), so the page shows what it ran with and
the execution cache tells the two books apart. The book build does this through the Sphinx extension
``book/_ext/book_profile.py``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Mapping, Optional

from .chapter import chapter_parameters, parameters_cell

VARIABLE = "AVSNN_BOOK_PROFILE"
BOOK_PROFILES = ("default", "gpu")
#: seeds of every comparison of the GPU book
GPU_SEEDS = [0, 1, 2, 3, 4]
#: the GPU book's parameters, given to each chapter that has them
GPU_BOOK = {"profile": "gpu", "seeds": GPU_SEEDS, "ablation_profile": "gpu", "ablation_seeds": GPU_SEEDS}
#: chapters whose ``profile`` means something else: the sweep keeps its small networks (its own
#: ``smoke``), the benchmark runs at the paper's size (its ``paper``: width 64, T=8, batch 128)
GPU_BOOK_CHAPTERS = {
    "07b_confusion_sweep": {"seeds": GPU_SEEDS},
    "11_performance": {"profile": "paper"},
}
TAG = "injected-parameters"


def book_profile(environ: Optional[Mapping[str, str]] = None, cuda_available: Optional[bool] = None) -> str:
    """The book :data:`VARIABLE` selects in ``environ`` (default ``os.environ``): one of :data:`BOOK_PROFILES`.

    ``cuda_available`` decides ``auto`` (default: :func:`torch.cuda.is_available`). Any other value is a
    ``ValueError`` naming the variable and the values expected.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(VARIABLE, "").strip().lower() or "auto"
    if value == "auto":
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        return "gpu" if cuda_available else "default"
    if value not in BOOK_PROFILES:
        raise ValueError(f"{VARIABLE}={value!r}: expected one of {['auto', *BOOK_PROFILES]}")
    return value


def describe(profile: Optional[str] = None) -> str:
    """One line naming the book a build makes and why (``make book`` prints it)."""
    profile = profile or book_profile()
    given = os.environ.get(VARIABLE, "").strip() or "unset: auto"
    return f"book profile: {profile} ({VARIABLE}={given}; the GPU book: {VARIABLE}=gpu)"


def book_parameters(nb, chapter: str, profile: str) -> dict:
    """The values the book ``profile`` gives the notebook ``nb`` of ``chapter`` (a file name or stem).

    ``{}`` for the ``default`` book and for a chapter with none of the parameters :data:`GPU_BOOK` sets.
    """
    if profile not in BOOK_PROFILES:
        raise ValueError(f"book profile must be one of {list(BOOK_PROFILES)}, got {profile!r}")
    if profile == "default":
        return {}
    try:
        params = chapter_parameters(nb)
    except ValueError:  # no parameters cell: nothing to give
        return {}
    wanted = GPU_BOOK_CHAPTERS.get(Path(chapter).stem, GPU_BOOK)
    return {k: v for k, v in wanted.items() if k in params}


def inject_parameters(nb, values: dict, label: str):
    """A copy of ``nb`` with ``values`` assigned in a cell tagged ``injected-parameters`` after its ``parameters`` cell.

    ``label`` is the cell's first line (a comment); ``nb`` itself when ``values`` is empty.
    """
    if not values:
        return nb
    import nbformat

    out = copy.deepcopy(nb)
    where = out.cells.index(parameters_cell(out)) + 1
    lines = [f"# {label}", *(f"{k} = {json.dumps(v) if isinstance(v, str) else repr(v)}" for k, v in values.items())]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [TAG]}, id=TAG)  # the same cell every build
    out.cells.insert(where, cell)
    source_map = out.metadata.get("source_map")  # myst-nb's first source line of each cell
    if isinstance(source_map, list) and len(source_map) == len(nb.cells):
        source_map.insert(where, source_map[where - 1])  # the injected cell points at the parameters cell
    return out


def prepare_chapter(nb, chapter: str, profile: str):
    """``nb`` as the book ``profile`` builds it: with its :func:`book_parameters` injected."""
    values = book_parameters(nb, chapter, profile)
    return inject_parameters(nb, values, f"parameters of the {profile} book ({VARIABLE}={profile}, avsnn.tools.book)")
