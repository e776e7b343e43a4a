"""Work one item ahead: the next file is parsed while the store writes the one before it.

A store write spends much of its time waiting for its commit to reach the disk, and parsing is mostly
Arrow's, polars' and numpy's native code, which runs without the GIL: the two overlap well. Only the
parsing moves earlier. The writes still happen one file at a time, in order, each its own transaction,
so a file is still written whole or not at all, and a checkpoint still moves only after the commits it
covers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ahead(work: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[tuple[Item, Future[Result]]]:
    """Each item, in order, with the future of `work(item)` (its `result()` raises what `work` raised).
    By the time an item is handed out, the next one's work is queued on the worker thread (it runs as
    soon as this item's is done); only one item is worked on ahead, so at most two results are held."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-ahead")
    queued: deque[tuple[Item, Future[Result]]] = deque()
    iterator = iter(items)
    try:
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                break
            except Exception:
                # the items got before the one that could not be got are still handed out, first
                while queued:
                    yield queued.popleft()
                raise
            queued.append((item, pool.submit(work, item)))
            if len(queued) > 1:
                yield queued.popleft()
        while queued:
            yield queued.popleft()
    finally:
        # a consumer that stops early (an error, a break) leaves nothing running behind it
        pool.shutdown(wait=True, cancel_futures=True)
