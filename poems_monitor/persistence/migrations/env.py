"""Alembic environment: runs the shipped migrations on the connection poems-monitor hands over
(`config.attributes["connection"]`), or on `sqlalchemy.url` when run from the alembic command."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import poems_monitor.models  # noqa: F401  (registers every table on the metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
