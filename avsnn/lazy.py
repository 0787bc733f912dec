"""Package attributes imported on first use (PEP 562), so a package's ``__init__`` imports nothing heavy.

``avsnn --help`` and ``import avsnn.train`` then load neither torch nor scikit-learn; a public name
is imported from the submodule that defines it when it is first used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Callable, Iterable


def lazy_exports(package: str, where: dict, public: Iterable[str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : dict
        Public name -> the relative module that defines it (``".store"``).
    public : iterable of str
        The package's ``__all__``.

    Other names that are submodules of the package are imported as submodules, as ``import
    package.sub`` would; anything else is an ``AttributeError``.
    """
    public = tuple(public)

    def __getattr__(name: str):
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
