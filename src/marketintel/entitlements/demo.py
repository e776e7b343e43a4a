"""The demo's tenants, users and API keys: the two pilots and a platform admin.

Created once (idempotent); the API key secrets exist only at creation, so they are written then to a
credentials file (mode 0600) in the data directory, which `make demo` prints on every start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketintel.auth.accounts import set_password
from marketintel.auth.apikeys import create_api_key
from marketintel.entitlements.models import CHANNELS, PRODUCTS
from marketintel.entitlements.service import grant, seed_pilots
from marketintel.metadata.models import Tenant, User
from marketintel.metadata.service import create_tenant, create_user

CREDENTIALS_FILE = "demo-credentials.json"
ADMIN_TENANT = "platform"


@dataclass(frozen=True)
class DemoAccount:
    tenant: str
    email: str
    password: str
    role: str
    api_key: str | None = None


ACCOUNTS = (
    DemoAccount("pilot_miso", "analyst@pilot-miso.example", "miso-demo-password", "analyst"),
    DemoAccount("pilot_caiso", "analyst@pilot-caiso.example", "caiso-demo-password", "analyst"),
    DemoAccount(ADMIN_TENANT, "admin@254carbon.example", "admin-demo-password", "admin"),
)


def seed_demo_accounts(session: Session, markets: list[str]) -> list[DemoAccount]:
    """Create the pilots (with their grants), the admin tenant (every market, every channel), their users
    and one API key each; returns the accounts created now (empty when they already existed)."""
    seed_pilots(session)
    if session.execute(select(Tenant.id).where(Tenant.slug == ADMIN_TENANT)).scalar_one_or_none() is None:
        create_tenant(session, ADMIN_TENANT, "254Carbon platform")
    grant(session, ADMIN_TENANT, markets, PRODUCTS, CHANNELS, granted_by="seed")
    created = []
    for account in ACCOUNTS:
        if (
            session.execute(select(User.id).where(User.email == account.email)).scalar_one_or_none()
            is not None
        ):
            continue
        create_user(session, account.tenant, account.email, account.role)
        set_password(session, account.email, account.password)
        _, secret = create_api_key(
            session, account.tenant, "demo key", account.role, user_email=account.email
        )
        created.append(DemoAccount(account.tenant, account.email, account.password, account.role, secret))
    return created


def save_credentials(data_dir: Path, accounts: list[DemoAccount]) -> Path:
    path = data_dir / CREDENTIALS_FILE
    if accounts:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump([asdict(a) for a in accounts], out, indent=2)
    return path


def load_credentials(data_dir: Path) -> list[DemoAccount]:
    path = data_dir / CREDENTIALS_FILE
    if not path.is_file():
        return []
    return [DemoAccount(**row) for row in json.loads(path.read_text())]
