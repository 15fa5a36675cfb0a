"""Fixtures of the integration tests that need a PostgreSQL server: one throwaway server per
test session (tests/pg_server.py: TLS, SCRAM passwords), and a fresh database on it per test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def _database_of_its_own(server: TestServer) -> Iterator[str]:
    """A fresh database for one test; afterwards it is dropped with the logins the test made:
    logins belong to the whole server, and the next test may make an account of the same name."""
    before = server.logins()
    name = server.fresh_database()
    try:
        yield name
    finally:
        server.drop(name, tuple(sorted(server.logins() - before)))


@pytest.fixture
def pg_url(pg_server: TestServer) -> Iterator[str]:
    """A fresh database of its own for each test, set up as `server upgrade` does (schema at
    head, the group roles' rights), as the superuser (over TLS)."""
    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.clinic_server import upgrade_server

    with _database_of_its_own(pg_server) as name:
        url = pg_server.url(name)
        db = open_database(url, migrate=False)
        try:
            upgrade_server(db)
        finally:
            db.dispose()
        yield url


@pytest.fixture
def pg_empty_url(pg_server: TestServer) -> Iterator[str]:
    """A fresh, empty database (no schema yet), as the superuser."""
    with _database_of_its_own(pg_server) as name:
        yield pg_server.url(name)
