"""The `profiles` commands: the workstation's saved connections (`list`, `add`, `remove`), and
`--profile NAME`, the global option that opens a saved connection instead of `--db`.

A profile never holds a password: on a clinic server it is asked on a terminal, read from
`--password-file`, or left to libpq (PGPASSWORD, the password file), as for `--db URL`."""

from __future__ import annotations

import argparse

from poems_monitor.cli import EXIT_INVALID, EXIT_OK, CommandError
from poems_monitor.i18n import tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("profiles", parents=[common], help=tr("saved connections to clinic files and servers"))
    profiles = p.add_subparsers(dest="profiles_command", metavar="ACTION")
    listing = profiles.add_parser("list", parents=[common], help=tr("list the saved connections"))
    listing.set_defaults(handler=cmd_profiles_list)
    add = profiles.add_parser("add", parents=[common], help=tr(
        "save a connection: --file PATH, or --host, --database and --login for a clinic server"))
    add.add_argument("name")
    add.add_argument("--file", metavar="PATH", help=tr("a clinic file (SQLite) to open or create"))
    add.add_argument("--host", help=tr("the clinic server's name or address"))
    add.add_argument("--port", type=int, default=5432, help=tr("the server's port (default 5432)"))
    add.add_argument("--database", help=tr("the clinic database's name on the server"))
    add.add_argument("--login", help=tr("your login name on the server"))
    add.add_argument("--tls", choices=("disable", "require", "verify-ca", "verify-full"), help=tr(
        "TLS mode (default: verify-full off this computer, require on localhost)"))
    add.add_argument("--ca-file", metavar="FILE", help=tr("the clinic's CA certificate that signed the server's"))
    # --allow-weak-tls is a global option (it also lets `--db URL` name a weaker sslmode)
    add.add_argument("--replace", action="store_true", help=tr("replace a saved connection of that name"))
    add.set_defaults(handler=cmd_profiles_add)
    remove = profiles.add_parser("remove", parents=[common], help=tr("forget a saved connection"))
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_profiles_remove)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def resolve_profile(args: argparse.Namespace) -> None:
    """`--profile NAME`: put the profile's database (URL without password) where `--db` goes."""
    from poems_monitor.services import connection_profiles as cp

    name = getattr(args, "profile", None)
    if not name:
        return
    if getattr(args, "db", None):
        raise CommandError(tr("Give either --db or --profile, not both."), EXIT_INVALID)
    try:
        args.db = cp.database_target(cp.profile_named(name))
    except cp.ProfileError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None


def check_typed_urls(args: argparse.Namespace) -> None:
    """The profiles' TLS rule for server URLs typed on the command line (`--db`, `server ... URL`,
    `migrate --to`): verify-full added off this computer when no sslmode is named, a weaker one
    refused (exit 2) unless `--allow-weak-tls`."""
    from poems_monitor.services import connection_profiles as cp

    allow = bool(getattr(args, "allow_weak_tls", False))
    for field in ("db", "url", "to"):
        value = getattr(args, field, None)
        if isinstance(value, str):
            try:
                setattr(args, field, cp.checked_server_url(value, allow_weak_tls=allow))
            except cp.ProfileError as exc:
                raise CommandError(str(exc), EXIT_INVALID) from None


def cmd_profiles_list(args: argparse.Namespace) -> int:
    from poems_monitor.services.connection_profiles import load_profiles, profiles_path

    book = load_profiles()
    if not book.profiles:
        print(tr("No saved connections yet ({file}); add one with `poems-monitor profiles add`.").format(
            file=profiles_path()))
        return EXIT_OK
    for profile in sorted(book.profiles, key=lambda p: p.name.lower()):
        mark = "*" if profile.name == book.last_used else " "
        kind = tr("server") if profile.is_server else tr("file")
        weak = tr(" (weaker TLS allowed)") if profile.weak_tls else ""
        print(f"{mark} {profile.name}\t{kind}\t{profile.describe()}{weak}")
    return EXIT_OK


def cmd_profiles_add(args: argparse.Namespace) -> int:
    from poems_monitor.services import connection_profiles as cp

    if args.file and any((args.host, args.database, args.login, args.tls, args.ca_file)):
        raise CommandError(tr("A profile is a clinic file (--file) or a clinic server (--host, --database, --login), "
                              "not both; nothing was saved."), EXIT_INVALID)
    if args.file:
        profile = cp.ConnectionProfile(args.name, kind=cp.KIND_FILE, path=args.file)
    else:
        profile = cp.ConnectionProfile(args.name, kind=cp.KIND_SERVER, host=args.host or "", port=args.port,
                                       database=args.database or "", login=args.login or "",
                                       tls_mode=args.tls or "", ca_file=args.ca_file or "",
                                       allow_weak_tls=bool(getattr(args, "allow_weak_tls", False)))
    try:
        saved = cp.add_profile(profile, replace_existing=args.replace)
    except cp.ProfileError as exc:
        raise CommandError(tr("{error} Nothing was saved.").format(error=exc), EXIT_INVALID) from None
    print(tr("Saved connection {name}: {where}.").format(name=saved.name, where=saved.describe()))
    if saved.weak_tls:
        print(cp.weak_tls_warning(saved))
    return EXIT_OK


def cmd_profiles_remove(args: argparse.Namespace) -> int:
    from poems_monitor.services import connection_profiles as cp

    try:
        cp.remove_profile(args.name)
    except cp.ProfileError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    print(tr("Removed connection {name} (the database itself is untouched).").format(name=args.name))
    return EXIT_OK
