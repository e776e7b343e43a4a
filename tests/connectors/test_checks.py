"""The SDK's row checks: the first row that breaks a rule, so a ParseError can name its line."""

from __future__ import annotations

import polars as pl

from marketintel.connectors.checks import Rule, first_failure, first_repeat, first_row


def test_first_row_is_the_first_true_and_a_null_is_not_true() -> None:
    assert first_row(pl.Series([None, False, True, True])) == 2
    assert first_row(pl.Series([False, None])) is None
    assert first_row(pl.Series([], dtype=pl.Boolean)) is None


def test_first_repeat_is_the_second_copy_of_a_key() -> None:
    frame = pl.DataFrame({"node": ["A", "B", "A", "B", "A"], "hour": [1, 1, 2, 1, 1]})
    assert first_repeat(frame, "node", "hour") == 3
    assert first_repeat(frame, "node", "hour", *[]) == 3
    assert first_repeat(frame.head(3), "node", "hour") is None


def test_first_failure_takes_the_rules_in_order_and_the_first_row_of_the_failing_one() -> None:
    frame = pl.DataFrame({"line": [2, 3, 4, 5], "price": [1.0, None, 3.0, None], "node": ["A", "B", "", "D"]})
    rules: list[Rule] = [
        (pl.col("node") == "", "node", lambda row: "empty node"),
        (pl.col("price").is_null(), "price", lambda row: f"no price for {row['node']}"),
    ]
    assert first_failure(frame, rules) == ({"line": 4, "price": 3.0, "node": ""}, "node", "empty node")
    row, field, message = first_failure(frame, rules[1:]) or ({}, None, "")
    assert (row["line"], field, message) == (3, "price", "no price for B")


def test_first_failure_of_a_clean_or_empty_frame_is_none() -> None:
    rules: list[Rule] = [(pl.col("x") < 0, "x", lambda row: "negative")]
    assert first_failure(pl.DataFrame({"x": [1, 2]}), rules) is None
    assert first_failure(pl.DataFrame({"x": []}, schema={"x": pl.Int64}), rules) is None
