"""`poems-monitor --version`: the program's version and the fingerprint of its rules, so that IT
and the bundle smoke test can tell which rules a build carries (a frozen build reads both from
the build stamp, a source checkout computes them)."""

from __future__ import annotations

import argparse

from poems_monitor.i18n import tr


class ShowVersion(argparse.Action):
    """Like argparse's "version" action, but computed only when asked: reading the rules'
    fingerprint imports the rules, which every other command should not pay for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, default: object = argparse.SUPPRESS,
                 help: str | None = None):  # noqa: A002 (argparse's own parameter name)
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from poems_monitor import shipped
        from poems_monitor.services.rules_cache import rules_version

        build = shipped.build_stamp()
        lines = [f"poems-monitor {shipped.version()}",
                 tr("rules fingerprint: {fingerprint}").format(fingerprint=rules_version())]
        if build:
            lines.append(tr("built {when} from {commit} on glibc {glibc}").format(
                when=build.get("built_at", "?"), commit=build.get("commit", "?"), glibc=build.get("glibc", "?")))
        print("\n".join(lines))  # on stdout, like argparse's own --version
        parser.exit()
