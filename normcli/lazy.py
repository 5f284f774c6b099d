"""Modules imported on first use.

numpy and pyarrow take about a fifth of a second to import, as long as polars takes to scale a
small file. apply and invert of a plain CSV file to CSV run on polars alone, so the modules that
use numpy and pyarrow name them through ``module``, and only the paths that use them pay.
"""

from __future__ import annotations

import importlib
import sys
import types


class LazyModule(types.ModuleType):
    """Stands for the module ``name``, which is imported when an attribute is first read."""

    def __getattr__(self, attribute: str):
        module = importlib.import_module(self.__name__)
        # Later reads find the module's attributes here, at the cost of a plain attribute read;
        # what the module gains afterwards (a submodule imported later) comes through this method.
        self.__dict__.update(vars(module))
        return getattr(module, attribute)


def module(name: str) -> types.ModuleType:
    """The module ``name`` if it is imported already, else a LazyModule for it."""
    return sys.modules.get(name) or LazyModule(name)
