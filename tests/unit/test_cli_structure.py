"""The command line's own structure (issue 12 items 7 and 8): every command group is imported by
name and shown in `--help`; the desktop app does not import the command line that starts it."""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import poems_monitor.cli

ROOT = Path(__file__).resolve().parents[2]


def _command_groups() -> dict[str, list[str]]:
    """Every module of the cli package that registers commands, with the commands it registers
    (found here by walking the package, so a group left out of cli/__init__.py is noticed)."""
    groups: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(poems_monitor.cli.__path__):
        module = importlib.import_module(f"poems_monitor.cli.{info.name}")
        if not hasattr(module, "register"):
            continue
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        module.register(sub, argparse.ArgumentParser(add_help=False))
        groups[info.name] = sorted(sub.choices)
    return groups


def test_help_lists_every_command_of_every_group() -> None:
    groups = _command_groups()
    assert len(groups) >= 6 and all(groups.values()), groups
    shown = subprocess.run([sys.executable, "-m", "poems_monitor", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    listed = set(shown.stdout.replace("{", " ").replace("}", " ").replace(",", " ").split())
    missing = {group: [c for c in commands if c not in listed] for group, commands in groups.items()}
    assert not any(missing.values()), f"--help does not list: {missing}"


def test_command_groups_are_imported_by_name() -> None:
    source = (ROOT / "poems_monitor" / "cli" / "__init__.py").read_text(encoding="utf-8")
    assert "importlib" not in source and "import_module" not in source
    imported = {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
                and node.module == "poems_monitor.cli" for alias in node.names}
    assert set(_command_groups()) <= imported


def test_the_app_does_not_import_the_command_line() -> None:
    """app -> cli -> app was a cycle: the command line starts the app, never the other way."""
    tree = ast.parse((ROOT / "poems_monitor" / "app.py").read_text(encoding="utf-8"))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if m and m.split(".")[:2] == ["poems_monitor", "cli"]], imported
