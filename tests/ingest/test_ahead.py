"""`ahead`: items handed out in order with their work's result, the next item's work already under way."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from marketintel.ingest.ahead import ahead


def test_items_come_in_order_with_their_results() -> None:
    assert [(item, result.result()) for item, result in ahead(lambda n: n * n, range(5))] == [
        (0, 0),
        (1, 1),
        (2, 4),
        (3, 9),
        (4, 16),
    ]


def test_no_items_is_nothing() -> None:
    assert list(ahead(lambda n: n, [])) == []


def test_the_next_items_work_runs_while_the_consumer_holds_this_one() -> None:
    started = {n: threading.Event() for n in range(3)}

    def work(n: int) -> int:
        started[n].set()
        return n

    for item, result in ahead(work, range(3)):
        assert result.result() == item
        if item < 2:
            # the consumer is busy with `item` (writing it): the next one is being parsed meanwhile
            assert started[item + 1].wait(timeout=30)


def test_a_failure_is_raised_for_its_own_item_and_the_others_go_on() -> None:
    def work(n: int) -> int:
        if n == 1:
            raise ValueError("bad file 1")
        return n

    outcomes: list[int | str] = []
    for _, result in ahead(work, range(3)):
        try:
            outcomes.append(result.result())
        except ValueError as exc:
            outcomes.append(str(exc))
    assert outcomes == [0, "bad file 1", 2]


def test_stopping_early_does_not_work_on_what_was_not_reached() -> None:
    done: list[int] = []
    items = ahead(done.append, range(100))
    for item, result in items:
        result.result()
        if item == 3:
            break
    items.close()
    assert done[:4] == [0, 1, 2, 3]
    assert len(done) <= 5  # item 4 may have been started ahead; nothing after it


def test_the_items_are_read_lazily_one_ahead() -> None:
    read: list[int] = []

    def source() -> Iterator[int]:
        for n in range(4):
            read.append(n)
            yield n

    seen = []
    for item, _ in ahead(lambda n: n, source()):
        seen.append(item)
        assert read == list(range(min(item + 2, 4)))
    assert seen == [0, 1, 2, 3]


def test_items_got_before_a_failing_one_are_handed_out_before_its_error() -> None:
    # e.g. the next file cannot be archived: the file before it is still written first
    def source() -> Iterator[int]:
        yield 0
        yield 1
        raise OSError("object store unreachable")

    seen: list[int] = []

    def consume() -> None:
        for _, result in ahead(lambda n: n * 10, source()):
            seen.append(result.result())

    with pytest.raises(OSError, match="object store unreachable"):
        consume()
    assert seen == [0, 10]


@pytest.mark.parametrize("count", [1, 2])
def test_short_runs_are_complete(count: int) -> None:
    assert [item for item, _ in ahead(str, range(count))] == list(range(count))
