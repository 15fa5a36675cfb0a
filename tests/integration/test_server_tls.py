"""The test server speaks only TLS, and a client that verifies the certificate refuses a server
whose certificate its CA did not sign (the set-up every server test runs on)."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg_server import make_certificates


def test_the_server_answers_over_verified_tls_only(pg_server, tmp_path):
    with psycopg.connect(pg_server.libpq()) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)

    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        psycopg.connect(pg_server.libpq(sslmode="disable"))

    other_ca, _, _ = make_certificates(tmp_path)  # a CA that did not sign the server's certificate
    wrong = pg_server.libpq().replace(str(pg_server.ca_file), str(other_ca))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(wrong)
