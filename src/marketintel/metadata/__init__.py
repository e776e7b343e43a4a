"""The metadata store: tenants, users, sources, instruments, checkpoints and runs (SQLAlchemy + Alembic)."""
