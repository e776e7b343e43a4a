"""A small least-recently-used map for what depends only on a grid and a contract set.

Daily rebuilds of a curve keep their contracts while prices move; their factorisations, rank checks and
layouts are worth keeping, but they are arrays (unhashable, too big to be lru_cache arguments) or are built
from objects the key leaves out (the quotes named in error messages)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """Up to `size` values by key, the least recently used dropped first; failures are not kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        try:
            self.items.move_to_end(key)
            return self.items[key]
        except KeyError:  # absent (or dropped by another thread in between): make it
            value = make()
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
            return value

    def clear(self) -> None:
        self.items.clear()
