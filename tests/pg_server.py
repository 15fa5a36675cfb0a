"""A throwaway PostgreSQL server for the tests, as a clinic would run it: TLS only, from a
certificate authority made at set-up, password (SCRAM) sign-in for every login but the
superuser.

`start_server()` runs initdb and pg_ctl on a free loopback port with its data in a temporary
folder (not pytest's: that one is private to its owner, and the server runs as the postgres user
when the tests run as root) and returns a `TestServer`: the superuser's URL, the CA file that
clients verify the server with, and `fresh_database()` for one empty database per test.
`no_server_reason()` says why none can be started (no server binaries, no openssl).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def server_binaries() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def no_server_reason() -> str | None:
    """Why no test server can run here, or None when one can."""
    if server_binaries() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    if shutil.which("openssl") is None:
        return "no openssl to make the test server's certificate"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (the server refuses to run as root)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it: (ca.crt,
    server.crt, server.key)."""
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n", encoding="ascii")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=poems-monitor test CA",
            "-keyout", str(ca_key), "-out", str(ca_crt))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(crt))
    return ca_crt, crt, key


@dataclass
class TestServer:
    """A running throwaway server. URLs name the CA file and verify the server's certificate."""

    __test__ = False  # not a test class, whatever its name says

    root: Path
    port: int
    ca_file: Path
    bin_dir: Path
    as_postgres: list[str] = field(default_factory=list)

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, database: str = "postgres", user: str = "postgres", password: str | None = None,
            sslmode: str = "verify-full") -> str:
        from urllib.parse import quote

        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return (f"postgresql+psycopg://{login}@{self.host_port}/{database}"
                f"?sslmode={sslmode}&sslrootcert={self.ca_file}")

    @property
    def superuser_url(self) -> str:
        return self.url()

    def libpq(self, database: str = "postgres", user: str = "postgres", password: str | None = None,
              sslmode: str = "verify-full") -> str:
        """The same address as a libpq connection string, for raw psycopg clients."""
        return self.url(database, user, password, sslmode).replace("postgresql+psycopg://", "postgresql://")

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.libpq(database), autocommit=True) as conn:
            conn.execute(sql)

    def fresh_database(self, prefix: str = "clinic") -> str:
        """Create an empty database and return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, database: str, logins: tuple[str, ...] = ()) -> None:
        """Remove a test's database and the logins it made (logins belong to the whole server)."""
        self.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for login in logins:
            self.execute(f'DROP ROLE IF EXISTS "{login}"')

    def logins(self) -> set[str]:
        """Every login role on the server but the superuser: clinic accounts made by the tests."""
        import psycopg

        with psycopg.connect(self.libpq(), autocommit=True) as conn:
            return {name for (name,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname <> 'postgres'")}

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_postgres, str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), *args],
                              capture_output=True, text=True)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.pg_ctl("-w", "-l", str(self.root / "log"), "start").check_returncode()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_HBA = """\
# TLS only over the network; the superuser of the tests signs in without a password, every
# other login (clinic accounts) with its SCRAM password.
local   all   all                     trust
hostssl all   postgres  127.0.0.1/32  trust
hostssl all   all       127.0.0.1/32  scram-sha-256
"""


def start_server() -> TestServer:
    bin_dir = server_binaries()
    reason = no_server_reason()
    if reason is not None or bin_dir is None:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="poems-pg-"))
    data, sock, tls = root / "data", root / "sock", root / "tls"
    sock.mkdir()
    tls.mkdir()
    ca_file, cert, key = make_certificates(tls)
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        for path in (root, sock, tls, cert, key):
            shutil.chown(path, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    os.chmod(tls, 0o755)
    os.chmod(key, 0o600)  # the server refuses a key others may read
    os.chmod(ca_file, 0o644)
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    (data / "pg_hba.conf").write_text(_HBA, encoding="ascii")
    if as_postgres:
        shutil.chown(data / "pg_hba.conf", "postgres")
    server = TestServer(root=root, port=_free_port(), ca_file=ca_file, bin_dir=bin_dir, as_postgres=as_postgres)
    with open(data / "postgresql.conf", "a", encoding="ascii") as conf:
        conf.write(f"\nport = {server.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n"
                   f"fsync = off\nssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n"
                   "password_encryption = 'scram-sha-256'\nmax_connections = 60\n")
    server.start()
    return server
