"""What a curve build takes (quotes) and gives (a run: points, reconciliation, lineage)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

PRODUCTS = ("ATC", "PEAK", "OFFPEAK")
HORIZON_END = dt.date(2051, 1, 1)  # curves run to Dec 2050 inclusive
METHOD = "bko-max-smoothness"


class QuoteError(ValueError):
    """A quote that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Quote:
    """A traded contract: the hour-weighted average price of `product` hours over [start, end) local dates."""

    contract: str
    product: str
    start: dt.date
    end: dt.date
    price: float
    bid: float | None = None
    ask: float | None = None
    source: str = ""  # the file or dataset it came from
    source_sha256: str | None = None
    line: int | None = None  # where in the source (for messages)

    @property
    def banded(self) -> bool:
        return self.bid is not None and self.ask is not None

    def where(self) -> str:
        at = f"{self.source or 'quotes'}"
        return f"{at} line {self.line}" if self.line is not None else f"{at} contract {self.contract}"

    def check(self) -> None:
        if self.product not in PRODUCTS:
            raise QuoteError(
                f"{self.where()}, field 'product': {self.product!r} is not one of {', '.join(PRODUCTS)}"
            )
        if self.end <= self.start:
            raise QuoteError(f"{self.where()}, field 'end': {self.end} is not after start {self.start}")
        if not math.isfinite(self.price):
            raise QuoteError(f"{self.where()}, field 'price': {self.price} is not a finite number")
        for name in ("bid", "ask"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise QuoteError(f"{self.where()}, field '{name}': {value} is not a finite number")
        if (self.bid is None) != (self.ask is None):
            raise QuoteError(f"{self.where()}, fields 'bid'/'ask': give both or neither")
        if self.bid is not None and self.ask is not None:
            if self.bid > self.ask:
                raise QuoteError(f"{self.where()}, field 'bid': bid {self.bid} is above ask {self.ask}")
            if not self.bid - 1e-9 <= self.price <= self.ask + 1e-9:
                raise QuoteError(
                    f"{self.where()}, field 'price': {self.price} is outside [bid {self.bid}, ask {self.ask}]"
                )

    def lineage(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "product": self.product,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "price": self.price,
            "bid": self.bid,
            "ask": self.ask,
            "source": self.source,
            "source_sha256": self.source_sha256,
        }


@dataclass(frozen=True)
class Adjustment:
    """A quote moved by reconciliation so that the set is free of arbitrage; never silent."""

    contract: str
    product: str
    quoted: float
    used: float

    @property
    def delta(self) -> float:
        return self.used - self.quoted


@dataclass
class CurvePoint:
    delivery_start: dt.date  # market-local, inclusive
    delivery_end: dt.date  # exclusive
    product: str
    value: float
    modelled: bool  # beyond the last traded contract: the anchor, not the market


@dataclass
class CurveBuild:
    market: str
    location: str
    as_of_date: dt.date
    granularity: str
    points: list[CurvePoint]
    adjustments: list[Adjustment]
    quotes: list[Quote]
    liquid_until: dt.date  # the first local date no contract delivers in
    parameters: dict[str, Any] = field(default_factory=dict)
    objective: float = 0.0
    solver: str = ""
