"""Finding the first row that breaks a rule, so that a ParseError can name its line.

Rows are checked as whole columns (a mask per rule); only a rule that fails is searched for its first row,
which keeps the error path exact without making the common, valid file pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl


def first_row(mask: pl.Series) -> int | None:
    """The index of the first True in `mask`, or None if there is none (a null is not True)."""
    rows = mask.arg_true()
    return int(rows[0]) if rows.len() else None


def first_repeat(frame: pl.DataFrame, *key: str) -> int | None:
    """The index of the first row whose `key` columns repeat an earlier row's (the second copy, not the
    first: that is the line a reader of the file would call the duplicate)."""
    return first_row(frame.select(pl.struct(*key).is_first_distinct().not_()).to_series())


# A rule for `first_failure`: rows where the expression is true break it; the field it blames; and the
# message for a breaking row, made from that row's values (so it can quote the bad text)
Rule = tuple[pl.Expr, str | None, Callable[[dict[str, Any]], str]]


def first_failure(
    frame: pl.DataFrame, rules: Sequence[Rule]
) -> tuple[dict[str, Any], str | None, str] | None:
    """The first rule (in the given order) that some row breaks: its first breaking row (named, in frame
    order), the rule's field and its message. All rules are evaluated in one pass over the rows."""
    broken = frame.select(*(bad.any().alias(str(i)) for i, (bad, _, _) in enumerate(rules))).row(0)
    for flag, (bad, field, message) in zip(broken, rules, strict=True):
        if flag:
            row = frame.filter(bad).row(0, named=True)
            return row, field, message(row)
    return None
