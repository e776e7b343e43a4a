"""Alembic environment of the metadata store; run through marketintel.metadata.service, not an alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from marketintel.metadata.models import Base
from marketintel.metadata.service import engine_for


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # service.upgrade() hands us its connection so the migration shares its transaction and engine setup.
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_for(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported for the metadata store")
run_migrations_online()
