"""Connection profiles: the clinic databases this workstation opens, by name.

Owns the profile (a clinic file, or a clinic server: host, port, database, login, TLS mode and CA
file), its file `connections.toml` in the user's config folder, the SQLAlchemy URL built from it,
the TLS rule, and "Test connection". It never stores a password: the password is asked each time
(or libpq takes it from PGPASSWORD or the password file, which `password_source()` names), and it
never logs one (URLs are logged masked).

The TLS rule: a server that is not this computer (localhost, 127.0.0.1, ::1) is reached with
`verify-full` (the server's certificate is checked against the CA file and its host name) unless
the profile explicitly allows a weaker mode (`allow_weak_tls = true`); the URL of a profile that
asks for a weaker mode without it is refused with a sentence. A URL typed by hand (`--db URL`,
`migrate --to URL`, `server init URL`) follows the same rule (`checked_server_url`).
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from poems_monitor.config import app_paths
from poems_monitor.i18n import tr

log = logging.getLogger(__name__)

PROFILES_FILE = "connections.toml"
KIND_FILE, KIND_SERVER = "file", "server"
TLS_MODES = ("disable", "require", "verify-ca", "verify-full")
STRICT_TLS = "verify-full"
LOCAL_TLS_DEFAULT = "require"  # on this computer the traffic never leaves it: encrypted, certificate not checked
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORT = 5432
MAX_NAME_LENGTH = 64


class ProfileError(ValueError):
    """A profile that cannot be saved or used as it is; the message names the field and the rule."""


def is_local_host(host: str) -> bool:
    return host.strip().lower().strip("[]") in LOCAL_HOSTS


def default_tls_mode(host: str, ca_file: str = "") -> str:
    """`verify-full` for every server that is not this computer, and on this computer when a CA
    file is given; `require` on this computer without one."""
    return LOCAL_TLS_DEFAULT if is_local_host(host) and not ca_file.strip() else STRICT_TLS


@dataclass(frozen=True)
class ConnectionProfile:
    """One saved connection. A file profile uses `path`; a server profile the rest. No password."""

    name: str
    kind: str = KIND_SERVER
    path: str = ""
    host: str = ""
    port: int = DEFAULT_PORT
    database: str = ""
    login: str = ""
    tls_mode: str = ""  # "" means the default for the host and CA file (default_tls_mode)
    ca_file: str = ""
    allow_weak_tls: bool = False  # explicitly accept a mode weaker than verify-full off this computer

    @property
    def is_server(self) -> bool:
        return self.kind == KIND_SERVER

    @property
    def effective_tls_mode(self) -> str:
        return self.tls_mode or default_tls_mode(self.host, self.ca_file)

    @property
    def weak_tls(self) -> bool:
        """A server off this computer reached with less than verify-full."""
        return self.is_server and not is_local_host(self.host) and self.effective_tls_mode != STRICT_TLS

    def describe(self) -> str:
        if not self.is_server:
            return self.path
        return f"{self.login}@{self.host}:{self.port}/{self.database} (TLS {self.effective_tls_mode})"


def validate(profile: ConnectionProfile) -> ConnectionProfile:
    """The profile with its fields tidied, or ProfileError naming the field and the rule."""
    name = profile.name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(ch in name for ch in "\"\\\n\r\t"):
        raise ProfileError(tr("Profile name: 1 to {n} characters, without quotes, backslashes or line breaks.").format(
            n=MAX_NAME_LENGTH))
    if profile.kind not in (KIND_FILE, KIND_SERVER):
        raise ProfileError(tr("Kind: must be “file” or “server”."))
    if profile.kind == KIND_FILE:
        if not profile.path.strip():
            raise ProfileError(tr("Clinic file: give the path of the clinic file to open or create."))
        return replace(profile, name=name, path=str(Path(profile.path.strip()).expanduser()), host="", database="",
                       login="", tls_mode="", ca_file="", allow_weak_tls=False)
    host, database, login = profile.host.strip(), profile.database.strip(), profile.login.strip()
    if not host or any(ch.isspace() or ch in "/@?#" for ch in host):
        raise ProfileError(tr("Host: give the server's name or address, without spaces, “/”, “@”, “?” or “#”."))
    if isinstance(profile.port, bool) or not isinstance(profile.port, int) or not 1 <= profile.port <= 65535:
        raise ProfileError(tr("Port: a whole number from 1 to 65535 (PostgreSQL's usual port is 5432)."))
    if not database:
        raise ProfileError(tr("Database: give the clinic database's name on the server."))
    if not login or any(ch.isspace() for ch in login):
        raise ProfileError(tr("Login: give your login name on the server, without spaces."))
    if profile.tls_mode and profile.tls_mode not in TLS_MODES:
        raise ProfileError(tr("TLS mode: one of {modes}.").format(modes=", ".join(TLS_MODES)))
    ca_file = profile.ca_file.strip()
    if ca_file:
        ca_file = str(Path(ca_file).expanduser())
        if not Path(ca_file).is_file():
            raise ProfileError(tr("CA file: {file} does not exist or is not a file.").format(file=ca_file))
    tidy = replace(profile, name=name, host=host, database=database, login=login, ca_file=ca_file, path="")
    if tidy.effective_tls_mode in ("verify-ca", "verify-full") and not ca_file:
        raise ProfileError(tr("CA file: TLS mode {mode} checks the server's certificate against the clinic's CA "
                              "file; choose that file (ask the server's administrator).").format(
            mode=tidy.effective_tls_mode))
    if tidy.weak_tls and not tidy.allow_weak_tls:
        raise ProfileError(weak_tls_refusal(tidy))
    return tidy


def weak_tls_refusal(profile: ConnectionProfile) -> str:
    return tr("TLS mode: {host} is not this computer, so the connection must use verify-full (the server's "
              "certificate and name checked) unless the profile explicitly allows a weaker mode; {mode} was "
              "refused.").format(host=profile.host, mode=profile.effective_tls_mode)


def weak_tls_warning(profile: ConnectionProfile) -> str:
    """The sentence the dialog shows while a weaker mode is chosen for a server off this computer."""
    return tr("Warning: with {mode} to {host} the server's identity is not fully checked; someone on the network "
              "could pose as the clinic server and read the passwords and patient data sent to it.").format(
        mode=profile.effective_tls_mode, host=profile.host)


def checked_server_url(url: str, *, allow_weak_tls: bool = False) -> str:
    """A server URL typed by hand (`--db`, `migrate --to`, `server init`) under the profiles' TLS
    rule: off this computer `verify-full` when the URL names no sslmode (libpq's own default,
    "prefer", would accept any server, even without TLS), and a weaker sslmode refused with
    ProfileError unless `allow_weak_tls`. A file path, an SQLite URL, or a server on this computer
    (localhost, a loopback address, a Unix socket) is returned as it is."""
    from sqlalchemy.engine import make_url

    if "://" not in url or url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "")
    if not host or host.startswith("/") or is_local_host(host):
        return url
    mode = str(parsed.query.get("sslmode") or "")
    if not mode:
        return parsed.update_query_dict({"sslmode": STRICT_TLS}).render_as_string(hide_password=False)
    if mode != STRICT_TLS and not allow_weak_tls:
        raise ProfileError(tr("sslmode: {host} is not this computer, so the connection must use verify-full (the "
                              "server's certificate and name checked); {mode} was refused. Add --allow-weak-tls "
                              "only if you accept that someone on the network could pose as the clinic "
                              "server.").format(host=host, mode=mode))
    return url


def database_url(profile: ConnectionProfile) -> str:
    """The SQLAlchemy URL of the profile, without any password; refused (ProfileError) when the
    profile is invalid or asks for weak TLS off this computer without allowing it."""
    from sqlalchemy.engine import URL

    profile = validate(profile)
    if not profile.is_server:
        return f"sqlite:///{Path(profile.path).resolve()}"
    query = {"sslmode": profile.effective_tls_mode}
    if profile.ca_file:
        query["sslrootcert"] = profile.ca_file
    url = URL.create("postgresql+psycopg", username=profile.login, host=profile.host, port=profile.port,
                     database=profile.database, query=query)
    return url.render_as_string(hide_password=False)


def database_target(profile: ConnectionProfile) -> str:
    """What `--db` would be for this profile: the clinic file's path (so that a command that only
    reads still refuses a file that does not exist), or the server's URL."""
    profile = validate(profile)
    return database_url(profile) if profile.is_server else profile.path


def masked_url(url: str) -> str:
    """The URL as it may appear in a log or on screen: any password replaced by ***."""
    from sqlalchemy.engine import make_url

    if "://" not in url:
        return url
    return make_url(url).render_as_string(hide_password=True)


# --- the profiles file -------------------------------------------------------------------

def profiles_path() -> Path:
    return app_paths().config / PROFILES_FILE


@dataclass(frozen=True)
class ProfileBook:
    profiles: tuple[ConnectionProfile, ...] = ()
    last_used: str = ""

    def get(self, name: str) -> ConnectionProfile | None:
        return next((p for p in self.profiles if p.name == name), None)


_FIELDS = ("kind", "path", "host", "port", "database", "login", "tls_mode", "ca_file", "allow_weak_tls")


def load_profiles() -> ProfileBook:
    """The saved profiles; an unreadable file gives none (and says so in the log), never a crash."""
    path = profiles_path()
    if not path.exists():
        return ProfileBook()
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        log.warning("connection profiles file %s unreadable: %s", path, type(exc).__name__)
        return ProfileBook()
    profiles = []
    for name, fields in (values.get("profile") or {}).items():
        if not isinstance(fields, dict):
            continue
        known = {k: v for k, v in fields.items() if k in _FIELDS}
        try:
            profiles.append(ConnectionProfile(name=name, **known))
        except TypeError:
            continue
    last = values.get("last_used", "")
    return ProfileBook(tuple(profiles), last if isinstance(last, str) else "")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def save_profiles(book: ProfileBook) -> Path:
    """Write the profiles file (written whole to a temporary file, then moved into place)."""
    lines = ["# poems-monitor: the clinic databases this workstation opens (never a password).",
             f"last_used = {_toml_value(book.last_used)}", ""]
    for profile in book.profiles:
        lines.append(f"[profile.{_toml_value(profile.name)}]")
        for key in _FIELDS:
            value = getattr(profile, key)
            if value in ("", None) or (key == "allow_weak_tls" and not value) or (
                    key == "port" and profile.kind == KIND_FILE):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".toml.new")
    staged.write_text("\n".join(lines), encoding="utf-8")
    os.replace(staged, path)
    return path


def add_profile(profile: ConnectionProfile, *, replace_existing: bool = False) -> ConnectionProfile:
    """Validate and save `profile`; a profile of that name is replaced only when asked."""
    profile = validate(profile)
    book = load_profiles()
    if book.get(profile.name) is not None and not replace_existing:
        raise ProfileError(tr("Profile name: a profile named {name} exists already.").format(name=profile.name))
    kept = tuple(p for p in book.profiles if p.name != profile.name)
    save_profiles(ProfileBook((*kept, profile), book.last_used))
    log.info("connection profile saved (%s)", profile.kind)
    return profile


def remove_profile(name: str) -> None:
    book = load_profiles()
    if book.get(name) is None:
        raise ProfileError(tr("Profile name: no profile is named {name}.").format(name=name))
    kept = tuple(p for p in book.profiles if p.name != name)
    save_profiles(ProfileBook(kept, "" if book.last_used == name else book.last_used))


def remember_last_used(profile: ConnectionProfile) -> None:
    """Save the profile (replacing one of its name) and open it at the next start."""
    profile = validate(profile)
    book = load_profiles()
    kept = tuple(p for p in book.profiles if p.name != profile.name)
    save_profiles(ProfileBook((*kept, profile), profile.name))


def last_used_profile() -> ConnectionProfile | None:
    book = load_profiles()
    return book.get(book.last_used) if book.last_used else None


def profile_named(name: str) -> ConnectionProfile:
    profile = load_profiles().get(name)
    if profile is None:
        raise ProfileError(tr("--profile: no profile is named {name} (see `poems-monitor profiles list`).").format(
            name=name))
    return profile


# --- passwords: never ours to keep ---------------------------------------------------------

def _pgpass_file() -> Path:
    if os.environ.get("PGPASSFILE"):
        return Path(os.environ["PGPASSFILE"])
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", "")) / "postgresql" / "pgpass.conf"
    return Path.home() / ".pgpass"


def _pgpass_matches(line: str, profile: ConnectionProfile) -> bool:
    fields, field, escaped = [], "", False
    for ch in line:
        if escaped:
            field, escaped = field + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append(field)
            field = ""
        else:
            field += ch
    fields.append(field)
    if len(fields) < 5:
        return False
    wanted = (profile.host, str(profile.port), profile.database, profile.login)
    return all(have in ("*", want) for have, want in zip(fields[:4], wanted, strict=True))


def password_source(profile: ConnectionProfile) -> str | None:
    """Where libpq will find the password without asking ("PGPASSWORD" or the password file's
    path), or None: then the person types it each time."""
    if not profile.is_server:
        return None
    if os.environ.get("PGPASSWORD"):
        return "PGPASSWORD"
    path = _pgpass_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if any(_pgpass_matches(line, profile) for line in lines if line.strip() and not line.startswith("#")):
        return str(path)
    return None


# --- Test connection -----------------------------------------------------------------------

class Outcome(Enum):
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"
    TLS_REFUSED = "tls refused"
    WRONG_PASSWORD = "wrong password"
    SCHEMA_TOO_OLD = "schema too old"
    REFUSED = "refused"  # anything else the server or file refused (a newer schema, not a clinic database)


@dataclass(frozen=True)
class ConnectionCheck:
    outcome: Outcome
    sentence: str

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.REACHABLE


_TLS_SIGNS = ("certificate", "ssl", "no encryption")  # libpq's words for a TLS set-up that failed


def check_connection(profile: ConnectionProfile, password: str | None = None) -> ConnectionCheck:
    """Open the profile's database as the app would and say, in one sentence, how it went:
    reachable, unreachable, TLS refused, wrong password, schema too old (or another refusal).
    Blocks for up to the connect timeout: call it off the UI thread. Changes nothing."""
    from poems_monitor.persistence.db import (
        DatabaseError, ServerSchemaNotCurrent, ServerSignInRefused, ServerUnreachable, connection_problem,
        open_database,
    )

    try:
        url = database_url(profile)
    except ProfileError as exc:
        return ConnectionCheck(Outcome.REFUSED, str(exc))
    if not profile.is_server:
        path = Path(make_path(url))
        if not path.exists():
            return ConnectionCheck(Outcome.REACHABLE, tr("{file} does not exist yet: it will be created as a new "
                                                         "clinic file.").format(file=path))
    where = profile.describe()
    log.info("testing connection to %s", masked_url(url))
    try:
        db = open_database(url, password=password or None, migrate=False)
    except ServerUnreachable as exc:
        return ConnectionCheck(Outcome.UNREACHABLE, tr("Unreachable: {error}").format(error=exc))
    except ServerSignInRefused as exc:
        text = str(getattr(exc.__context__, "orig", None) or exc.__context__ or "").lower()
        if "no encryption" in text:  # the server's rules admit this login over TLS only
            return ConnectionCheck(Outcome.TLS_REFUSED, _tls_sentence(profile, text))
        return ConnectionCheck(Outcome.WRONG_PASSWORD, sign_in_refused_sentence(profile))
    except ServerSchemaNotCurrent as exc:
        return ConnectionCheck(Outcome.SCHEMA_TOO_OLD, tr("Schema too old: the server answered, but {error}.").format(
            error=exc))
    except DatabaseError as exc:
        cause = exc.__cause__ or exc
        text = str(getattr(cause, "orig", None) or cause).lower()
        if profile.is_server and any(sign in text for sign in _TLS_SIGNS):
            return ConnectionCheck(Outcome.TLS_REFUSED, _tls_sentence(profile, text))
        return ConnectionCheck(Outcome.REFUSED, tr("Refused: {error}").format(error=exc))
    except Exception as exc:  # noqa: BLE001 (a driver error open_database did not translate: said as a sentence)
        problem = connection_problem(exc, url) if profile.is_server else None
        if problem is not None:
            return check_from_problem(problem, profile, url)
        text = str(getattr(exc, "orig", None) or exc).lower()
        if profile.is_server and any(sign in text for sign in _TLS_SIGNS):
            return ConnectionCheck(Outcome.TLS_REFUSED, _tls_sentence(profile, text))
        log.warning("connection test to %s failed: %s", masked_url(url), type(exc).__name__)
        return ConnectionCheck(Outcome.REFUSED, tr("Refused: {error}").format(error=_detail(exc)))
    try:
        if profile.is_server:
            from poems_monitor.persistence.db import current_revision, known_revisions

            found, head = current_revision(db.engine), known_revisions()[1]
            if found != head:
                return ConnectionCheck(Outcome.SCHEMA_TOO_OLD, tr("Schema too old: the server answered, but {error}.")
                                       .format(error=ServerSchemaNotCurrent(found, head)))
    finally:
        db.dispose()
    return ConnectionCheck(Outcome.REACHABLE, tr("Reachable: {where} answered and its clinic database is ready.").format(
        where=where))


def sign_in_refused_sentence(profile: ConnectionProfile) -> str:
    return tr("Refused: the server did not accept the password of {login} (wrong password, or the login is not "
              "active).").format(login=profile.login)


def check_from_problem(problem: Exception, profile: ConnectionProfile, url: str) -> ConnectionCheck:
    from poems_monitor.persistence.db import ServerUnreachable

    if isinstance(problem, ServerUnreachable):
        return ConnectionCheck(Outcome.UNREACHABLE, tr("Unreachable: {error}").format(error=problem))
    return ConnectionCheck(Outcome.WRONG_PASSWORD, sign_in_refused_sentence(profile))


def _tls_sentence(profile: ConnectionProfile, text: str) -> str:
    if "verify failed" in text or "certificate" in text:
        why = tr("the server's certificate was not signed by the CA file {ca}, or does not name {host}").format(
            ca=profile.ca_file or tr("(none chosen)"), host=profile.host)
    elif "does not support ssl" in text:
        why = tr("the server does not offer TLS")
    elif "no encryption" in text:
        why = tr("the server accepts this login over TLS only")
    else:
        why = tr("the secure connection could not be set up")
    return tr("TLS refused: {why}; nothing was sent. Check the CA file and the TLS mode with the server's "
              "administrator.").format(why=why)


def _detail(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:200]


def make_path(sqlite_url: str) -> str:
    return sqlite_url[len("sqlite:///"):]
