"""Fixtures of the integration tests that need a PostgreSQL server: one throwaway server per
test session (tests/pg_server.py: TLS, SCRAM passwords), and a fresh database on it per test."""

from __future__ import annotations

import pytest

from tests.pg_server import TestServer, no_server_reason, start_server


@pytest.fixture(scope="session")
def pg_server():
    reason = no_server_reason()
    if reason is not None:
        pytest.skip(reason)
    server = start_server()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_url(pg_server: TestServer) -> str:
    """A fresh database of its own for each test, set up as `server upgrade` does (schema at
    head, the group roles' rights), as the superuser (over TLS)."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.clinic_server import upgrade_server

    url = pg_server.url(pg_server.fresh_database())
    db = open_database(url, migrate=False)
    try:
        upgrade_server(db)
    finally:
        db.dispose()
    return url


@pytest.fixture
def pg_empty_url(pg_server: TestServer) -> str:
    """A fresh, empty database (no schema yet), as the superuser."""
    return pg_server.url(pg_server.fresh_database())
