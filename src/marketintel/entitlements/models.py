"""A grant and the vocabulary it is written in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from marketintel.metadata.models import CHANNELS, PRODUCTS

Product = Literal["prices", "curves", "fundamentals", "scenarios", "downloads"]
Channel = Literal["hub", "api", "downloads"]

__all__ = ["CHANNELS", "PRODUCTS", "Channel", "Grant", "NotEntitled", "Product"]


@dataclass(frozen=True, order=True)
class Grant:
    tenant: str
    market: str
    product: str
    channel: str


class NotEntitled(Exception):
    """A request for something the tenant's grants do not cover; the message says which part is missing."""

    def __init__(self, tenant: str, market: str, product: str, channel: str, reason: str) -> None:
        self.tenant, self.market, self.product, self.channel = tenant, market, product, channel
        super().__init__(reason)
