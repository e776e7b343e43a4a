"""`marketintel tenants|users|token|keys|apikeys`: accounts and credentials, for the platform's own issuer.

Secrets (tokens, API keys) go to stdout alone on their line, so `$(marketintel token --email …)` works;
everything else about them goes to stderr.
"""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from marketintel.cli.context import console, errors, fail, instant, settings
from marketintel.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from marketintel.metadata.models import SigningKey

tenants = typer.Typer(help="Tenants: the platform's customers.", no_args_is_help=True)
users = typer.Typer(help="Users of a tenant.", no_args_is_help=True)
keys = typer.Typer(help="The keys the platform signs its tokens with.", no_args_is_help=True)
apikeys = typer.Typer(help="API keys for machines.", no_args_is_help=True)


def _first_line(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


@contextmanager
def _store() -> Iterator[tuple[Session, Settings]]:
    """A session on the migrated metadata store, committed if the command succeeds; a service ValueError
    or a database error becomes one line on stderr and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from marketintel.metadata import service as metadata

    config = settings()
    try:
        metadata.upgrade(config.metadata_url)
        engine = metadata.engine_for(config.metadata_url)
    except SQLAlchemyError as exc:
        raise fail(f"metadata store unavailable: {_first_line(exc)}") from None
    try:
        with metadata.session_factory(engine)() as session:
            yield session, config
            session.commit()
    except ValueError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"metadata store: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


# --- tenants ----------------------------------------------------------------------------------------


@tenants.command("create")
def create_tenant(
    slug: str = typer.Argument(..., help="short unique name, e.g. pilot_miso"),
    name: str = typer.Option(..., "--name", help="display name"),
) -> None:
    """Add a tenant."""
    from marketintel.metadata import service as metadata

    with _store() as (session, _):
        metadata.create_tenant(session, slug, name)
    console.print(f"tenant [bold]{slug}[/bold] created")


@tenants.command("list")
def show_tenants() -> None:
    """List tenants."""
    from marketintel.auth.accounts import list_tenants

    with _store() as (session, _):
        table = Table("slug", "name", "created (UTC)")
        for tenant in list_tenants(session):
            table.add_row(tenant.slug, tenant.name, _when(tenant.created_at))
    console.print(table)


# --- users ------------------------------------------------------------------------------------------


def _password(from_stdin: bool, env_variable: str) -> str | None:
    if from_stdin and env_variable:
        raise fail("give --password-stdin or --password-env, not both", 2)
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if env_variable:
        if env_variable not in os.environ:
            raise fail(f"--password-env: variable {env_variable} is not set", 2)
        return os.environ[env_variable]
    return None


@users.command("create")
def create_user(
    tenant: str = typer.Option(..., "--tenant", help="the tenant's slug"),
    email: str = typer.Option(..., "--email"),
    role: str = typer.Option(..., "--role", help="admin, analyst or viewer"),
    display_name: str = typer.Option("", "--display-name"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
    password_env: str = typer.Option("", "--password-env", help="read the password from this variable"),
) -> None:
    """Add a user; with a password they can sign in to the web hub (without, only tokens from an admin)."""
    from marketintel.auth.accounts import set_password
    from marketintel.metadata import service as metadata

    password = _password(password_stdin, password_env)
    with _store() as (session, _):
        user = metadata.create_user(session, tenant, email, role, display_name or None)
        if password is not None:
            set_password(session, user.email, password)
    console.print(f"user [bold]{user.email}[/bold] ({role}) created in tenant {tenant}")


@users.command("list")
def show_users(tenant: str = typer.Option("", "--tenant", help="only this tenant")) -> None:
    """List users."""
    from marketintel.auth.accounts import list_users

    with _store() as (session, _):
        table = Table("email", "tenant", "role", "active", "password", "created (UTC)")
        for user, slug in list_users(session, tenant or None):
            has_password = "yes" if user.password_hash else "no"
            table.add_row(
                user.email,
                slug,
                user.role,
                "yes" if user.active else "no",
                has_password,
                _when(user.created_at),
            )
    console.print(table)


@users.command("deactivate")
def deactivate_user(email: str = typer.Argument(...)) -> None:
    """Refuse a user's tokens, sessions and API keys from now on (within seconds on running servers)."""
    from marketintel.auth.accounts import set_active

    with _store() as (session, _):
        set_active(session, email, False)
    console.print(f"user {email} deactivated")


@users.command("activate")
def activate_user(email: str = typer.Argument(...)) -> None:
    """Reactivate a deactivated user."""
    from marketintel.auth.accounts import set_active

    with _store() as (session, _):
        set_active(session, email, True)
    console.print(f"user {email} activated")


# --- tokens and signing keys ------------------------------------------------------------------------


def token(
    email: str = typer.Option(..., "--email", help="the user the token is for"),
    ttl_minutes: int = typer.Option(0, "--ttl-minutes", min=0, help="lifetime (default: the configured one)"),
) -> None:
    """Print a bearer token for a user (channel "api"): `Authorization: Bearer <token>`."""
    from marketintel.auth.accounts import find_user
    from marketintel.auth.tokens import issue_token

    with _store() as (session, config):
        user = find_user(session, email)
        if user is None:
            raise fail(f"unknown user {email!r}")
        ttl = dt.timedelta(minutes=ttl_minutes) if ttl_minutes else None
        signed = issue_token(session, config, user, channel="api", ttl=ttl)
    typer.echo(signed)


def _key_status(key: SigningKey, now: dt.datetime) -> str:
    if key.retired_at is None:
        return "[green]signing[/green]"
    if key.verify_until is not None and key.verify_until > now:
        return f"verifying until {_when(key.verify_until)}"
    return "[dim]expired[/dim]"


@keys.command("rotate")
def rotate_keys(
    overlap_minutes: int = typer.Option(
        -1, "--overlap-minutes", help="how long retired keys keep verifying (default: the token lifetime)"
    ),
    algorithm: str = typer.Option("ES256", "--algorithm", help="ES256 or RS256"),
) -> None:
    """Sign with a new key from now on; tokens of the old key stay valid during the overlap."""
    from marketintel.auth.keys import rotate

    with _store() as (session, config):
        minutes = config.token_ttl_minutes if overlap_minutes < 0 else overlap_minutes
        new = rotate(session, dt.timedelta(minutes=minutes), algorithm)
    console.print(
        f"now signing with [bold]{new.kid}[/bold] ({new.algorithm}); older keys verify for {minutes} min"
    )


@keys.command("list")
def show_keys() -> None:
    """List signing keys, newest first."""
    from marketintel.auth.keys import list_signing_keys
    from marketintel.metadata.models import utcnow

    now = utcnow()
    with _store() as (session, _):
        table = Table("kid", "algorithm", "created (UTC)", "status")
        for key in list_signing_keys(session):
            table.add_row(key.kid, key.algorithm, _when(key.created_at), _key_status(key, now))
    console.print(table)


# --- API keys ---------------------------------------------------------------------------------------


@apikeys.command("create")
def create_key(
    tenant: str = typer.Option(..., "--tenant", help="the tenant's slug"),
    name: str = typer.Option(..., "--name", help="what the key is for, e.g. 'risk-etl'"),
    role: str = typer.Option(..., "--role", help="admin, analyst or viewer"),
    user: str = typer.Option("", "--user", help="the owning user's email (the key dies with the account)"),
    expires: str = typer.Option("", "--expires", help="expiry, ISO-8601 (UTC by default); none by default"),
) -> None:
    """Create an API key and print its secret, once."""
    from marketintel.auth.apikeys import create_api_key

    expires_at = instant("--expires", expires) if expires else None
    with _store() as (session, _):
        key, secret = create_api_key(session, tenant, name, role, user or None, expires_at)
    typer.echo(secret)
    errors.print(
        f"API key [bold]{key.prefix}[/bold] created; store the secret above now: it cannot be shown again",
        highlight=False,
    )


@apikeys.command("list")
def show_keys_of_machines(tenant: str = typer.Option("", "--tenant", help="only this tenant")) -> None:
    """List API keys (never their secrets)."""
    from marketintel.auth.apikeys import list_api_keys
    from marketintel.metadata.models import utcnow

    now = utcnow()
    with _store() as (session, _):
        table = Table("prefix", "name", "tenant", "role", "user", "created", "expires", "last used", "status")
        for key in list_api_keys(session, tenant or None):
            if key.revoked_at is not None:
                status = "[red]revoked[/red]"
            elif key.expires_at is not None and key.expires_at <= now:
                status = "[yellow]expired[/yellow]"
            else:
                status = "[green]active[/green]"
            table.add_row(
                key.prefix,
                key.name,
                key.tenant,
                key.role,
                key.user_email or "",
                _when(key.created_at),
                _when(key.expires_at),
                _when(key.last_used_at),
                status,
            )
    console.print(table)


@apikeys.command("revoke")
def revoke_key(prefix: str = typer.Argument(..., help="the key's prefix (see `apikeys list`)")) -> None:
    """Revoke an API key (refused within seconds by running servers)."""
    from marketintel.auth.apikeys import revoke_api_key

    with _store() as (session, _):
        key = revoke_api_key(session, prefix)
    console.print(
        f"API key {key.prefix} ({key.name}, tenant {key.tenant}) revoked at {_when(key.revoked_at)}"
    )
