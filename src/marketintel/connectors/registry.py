"""Every connector by name, found by importing the modules of `connectors.sources`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from marketintel.connectors import sources
from marketintel.connectors.base import Connector


@cache
def connectors() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for module in pkgutil.iter_modules(sources.__path__):
        importlib.import_module(f"{sources.__name__}.{module.name}")
    pending = list(Connector.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # only the shipped sources: a subclass defined elsewhere (a notebook, a test) is not a product connector
        shipped = cls.__module__.startswith(f"{sources.__name__}.")
        if not shipped or getattr(cls, "__abstractmethods__", None) or not hasattr(cls, "name"):
            continue
        if cls.name in found and found[cls.name] is not cls:
            raise RuntimeError(f"two connectors named {cls.name!r}: {found[cls.name]} and {cls}")
        found[cls.name] = cls
    return dict(sorted(found.items()))


def connector(name: str, base_url: str | None = None) -> Connector:
    """The connector called `name`, or a KeyError listing the known names."""
    known = connectors()
    if name not in known:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(known) or 'none'}")
    return known[name](base_url)
