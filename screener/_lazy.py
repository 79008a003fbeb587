"""Subpackage entry points imported on first use, so that importing a subpackage stays cheap.

``screener.models`` names :class:`Predictor`, but ``import screener.models`` must not import
torch; each subpackage's ``__init__`` therefore maps its public names to the submodule that
defines them and imports that submodule only when a name is first looked up (PEP 562).
An exported name must differ from every submodule name of its package (``tests/test_layout.py``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, **submodules: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``; ``submodules`` maps a submodule to its public names.

    Example: ``lazy_exports(__name__, reading="read_density DensityRecord")`` (names separated by spaces).
    """
    exports: Mapping[str, str] = {name: module for module, names in submodules.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)
