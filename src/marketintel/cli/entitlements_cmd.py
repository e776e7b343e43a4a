"""`marketintel entitlements grant|revoke|list`: who may see which market's products, through which channel."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, help_filled_in, settings

app = typer.Typer(help="Tenant × market × product × channel grants.", no_args_is_help=True)

MARKETS_OPTION = typer.Option(..., "--market", "-m", help="market code; repeat for several")
PRODUCTS_OPTION = typer.Option(None, "--product", "-p", help="a product (default: all)")
CHANNELS_OPTION = typer.Option(None, "--channel", "-c", help="a channel (default: all)")


def _choices_help() -> dict[str, dict[str, object]]:
    """--help names the products and channels; they live in the metadata models, which import SQLAlchemy."""
    from marketintel.entitlements.models import CHANNELS, PRODUCTS

    return {
        "product": {"help": f"one of {', '.join(PRODUCTS)} (default: all)"},
        "channel": {"help": f"one of {', '.join(CHANNELS)} (default: all)"},
    }


NAMING_CHOICES = help_filled_in(_choices_help)


def _change(
    tenant: str, markets: list[str], products: list[str] | None, channels: list[str] | None, granting: bool
) -> int:
    from marketintel.entitlements import service
    from marketintel.entitlements.models import CHANNELS, PRODUCTS
    from marketintel.metadata.service import engine_for, session_factory, upgrade

    url = settings().metadata_url
    upgrade(url)
    engine = engine_for(url)
    try:
        with session_factory(engine)() as session:
            chosen = (markets, products or list(PRODUCTS), channels or list(CHANNELS))
            try:
                if granting:
                    n = service.grant(session, tenant, *chosen, granted_by="cli")
                else:
                    n = service.revoke(session, tenant, *chosen)
            except ValueError as exc:
                raise fail(str(exc)) from None
            session.commit()
    finally:
        engine.dispose()
    return n


@app.command("grant", cls=NAMING_CHOICES)
def grant(
    tenant: str = typer.Argument(..., help="tenant slug"),
    market: list[str] = MARKETS_OPTION,
    product: list[str] | None = PRODUCTS_OPTION,
    channel: list[str] | None = CHANNELS_OPTION,
) -> None:
    """Grant every combination of the markets, products and channels (running gateways apply it within seconds)."""
    console.print(
        f"granted {_change(tenant, market, product, channel, granting=True)} new entitlement(s) to {tenant}"
    )


@app.command("revoke", cls=NAMING_CHOICES)
def revoke(
    tenant: str = typer.Argument(..., help="tenant slug"),
    market: list[str] = MARKETS_OPTION,
    product: list[str] | None = PRODUCTS_OPTION,
    channel: list[str] | None = CHANNELS_OPTION,
) -> None:
    """Revoke every combination of the markets, products and channels."""
    console.print(
        f"revoked {_change(tenant, market, product, channel, granting=False)} entitlement(s) of {tenant}"
    )


@app.command("list")
def list_(tenant: str | None = typer.Option(None, help="only this tenant")) -> None:
    """Every grant, one line per tenant × market × product, with its channels."""
    from marketintel.entitlements import service
    from marketintel.metadata.service import engine_for, session_factory, upgrade

    url = settings().metadata_url
    upgrade(url)
    engine = engine_for(url)
    try:
        with session_factory(engine)() as session:
            grants = service.list_grants(session, tenant)
    finally:
        engine.dispose()
    rows: dict[tuple[str, str, str], list[str]] = {}
    for g in grants:
        rows.setdefault((g.tenant, g.market, g.product), []).append(g.channel)
    table = Table("tenant", "market", "product", "channels")
    for (t, m, p), channels in sorted(rows.items()):
        table.add_row(t, m, p, ", ".join(sorted(channels)))
    console.print(table)
