"""Granting, revoking and checking entitlements.

Grants live in the metadata store. A gateway process keeps them all in memory (they are a few hundred
rows) and reloads them when they may have changed: at once after its own grant or revoke, and otherwise
every `refresh_seconds`, which bounds how long another replica's change takes to apply here. That periodic
reload runs in a background thread while requests keep checking the grants already held (a query on the
request path, or on the stream's event loop, would stall every caller behind it); only grants older than
`max_age_seconds` (the database unreachable for that long) are reloaded in the caller, which then sees
the error rather than grants of unknown age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from marketintel.catalog.markets import MARKETS
from marketintel.entitlements.models import CHANNELS, PRODUCTS, Grant, NotEntitled
from marketintel.metadata.models import Entitlement, Tenant

log = logging.getLogger(__name__)

# The CAISO pilot is the acceptance case: hub and downloads, the API blocked.
PILOTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pilot_miso": ("MISO pilot", "MISO", ("hub", "api", "downloads")),
    "pilot_caiso": ("CAISO pilot", "CAISO", ("hub", "downloads")),
}


def _check_values(markets: Iterable[str], products: Iterable[str], channels: Iterable[str]) -> None:
    for value, known, what in (
        *((m, MARKETS, "market") for m in markets),
        *((p, PRODUCTS, "product") for p in products),
        *((c, CHANNELS, "channel") for c in channels),
    ):
        if value not in known:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(sorted(known))}")


def _tenant_id(session: Session, slug: str) -> int:
    tenant_id = session.execute(select(Tenant.id).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant_id is None:
        raise ValueError(f"unknown tenant {slug!r}")
    return tenant_id


def grant(
    session: Session,
    tenant: str,
    markets: Iterable[str],
    products: Iterable[str],
    channels: Iterable[str],
    granted_by: str | None = None,
) -> int:
    """Grant every combination; returns how many were new (existing grants are left as they are)."""
    markets, products, channels = list(markets), list(products), list(channels)
    _check_values(markets, products, channels)
    tenant_id = _tenant_id(session, tenant)
    held = {(g.market, g.product, g.channel) for g in _rows(session, tenant_id)}
    new = [
        Entitlement(tenant_id=tenant_id, market=m, product=p, channel=c, granted_by=granted_by)
        for m in markets
        for p in products
        for c in channels
        if (m, p, c) not in held
    ]
    session.add_all(new)
    session.flush()
    return len(new)


def revoke(
    session: Session, tenant: str, markets: Iterable[str], products: Iterable[str], channels: Iterable[str]
) -> int:
    """Remove every combination; returns how many grants existed."""
    markets, products, channels = list(markets), list(products), list(channels)
    _check_values(markets, products, channels)
    result = session.execute(
        delete(Entitlement).where(
            Entitlement.tenant_id == _tenant_id(session, tenant),
            Entitlement.market.in_(markets),
            Entitlement.product.in_(products),
            Entitlement.channel.in_(channels),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _rows(session: Session, tenant_id: int | None = None) -> list[Entitlement]:
    stmt = select(Entitlement)
    if tenant_id is not None:
        stmt = stmt.where(Entitlement.tenant_id == tenant_id)
    return list(session.scalars(stmt))


def list_grants(session: Session, tenant: str | None = None) -> list[Grant]:
    stmt = select(Tenant.slug, Entitlement.market, Entitlement.product, Entitlement.channel).join(
        Tenant, Tenant.id == Entitlement.tenant_id
    )
    if tenant is not None:
        stmt = stmt.where(Tenant.slug == tenant)
    return sorted(Grant(*row) for row in session.execute(stmt))


def seed_pilots(session: Session) -> list[str]:
    """Create the pilot tenants and their grants where missing; returns the tenants created."""
    created = []
    for slug, (name, market, channels) in PILOTS.items():
        if session.execute(select(Tenant.id).where(Tenant.slug == slug)).scalar_one_or_none() is None:
            session.add(Tenant(slug=slug, name=name))
            session.flush()
            created.append(slug)
        grant(session, slug, [market], PRODUCTS, channels, granted_by="seed")
    return created


class Entitlements:
    """The grants of every tenant, held in memory for per-request checks."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        max_age_seconds: float | None = None,
    ) -> None:
        self._sessions = sessions
        self._refresh_seconds = refresh_seconds
        self._max_age_seconds = 6 * refresh_seconds if max_age_seconds is None else max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: frozenset[Grant] = frozenset()
        self._loaded_at: float | None = None
        self._refreshing = False

    def reload(self) -> None:
        started = self._clock()
        with self._sessions() as session:
            grants = frozenset(list_grants(session))
        with self._lock:
            # a slower reload that began earlier must not replace what a later one loaded
            if self._loaded_at is None or started >= self._loaded_at:
                self._grants, self._loaded_at = grants, started

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def refresh() -> None:
            try:
                self.reload()
            except Exception:  # the held grants stay in force until max_age_seconds; then callers see it
                log.exception("entitlements: background reload failed")
            finally:
                with self._lock:
                    self._refreshing = False

        threading.Thread(target=refresh, name="entitlements-refresh", daemon=True).start()

    def _current(self) -> frozenset[Grant]:
        loaded = self._loaded_at
        age = None if loaded is None else self._clock() - loaded
        if age is None or age >= self._max_age_seconds:
            self.reload()
        elif age >= self._refresh_seconds:
            self._refresh_in_background()
        return self._grants

    def allowed(self, tenant: str, market: str, product: str, channel: str) -> bool:
        return Grant(tenant, market, product, channel) in self._current()

    def check(self, tenant: str, market: str, product: str, channel: str) -> None:
        """Raise NotEntitled, saying whether the channel or the market/product is what is missing."""
        grants = self._current()
        if Grant(tenant, market, product, channel) in grants:
            return
        other_channels = sorted(
            g.channel for g in grants if (g.tenant, g.market, g.product) == (tenant, market, product)
        )
        if other_channels:
            reason = (
                f"the {channel} channel is not entitled for {market} {product} "
                f"(tenant {tenant} has it through: {', '.join(other_channels)})"
            )
        else:
            reason = f"tenant {tenant} is not entitled to {market} {product}"
        raise NotEntitled(tenant, market, product, channel, reason)

    def markets(self, tenant: str, product: str, channel: str) -> set[str]:
        return {
            g.market
            for g in self._current()
            if (g.tenant, g.product, g.channel) == (tenant, product, channel)
        }

    def channels(self, tenant: str) -> set[str]:
        return {g.channel for g in self._current() if g.tenant == tenant}

    def of_tenant(self, tenant: str) -> list[Grant]:
        return sorted(g for g in self._current() if g.tenant == tenant)
