"""Who sits at this workstation: the operating system's login name.

One definition for the command line (the default `--user`), the desktop app (the account of a
read-only session) and the services that stamp a document with who made it. Kept outside the
cli and app packages so that neither has to import the other for it."""

from __future__ import annotations

import getpass


def login_name() -> str:
    """The login name, or "unknown" where there is none (some containers): still honest."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 (getuser raises OSError, KeyError or ImportError by platform)
        return "unknown"
