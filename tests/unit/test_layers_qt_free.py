"""`domain`, `models`, `persistence` and `services` never need Qt: every module under them imports,
and the record can be opened, migrated, filled, exported and checked, in a Python where PySide6
and pyqtgraph cannot be imported at all. Run in a subprocess so the test session's own Qt does
not hide an import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    BLOCKED = ("PySide6", "pyqtgraph", "shiboken6")
    ATTEMPTS = []

    class NoQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                ATTEMPTS.append(name)
                raise ImportError(f"Qt is blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, NoQt())
    for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[loaded]

    def report(**extra):
        qt_loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print(json.dumps({"attempts": ATTEMPTS, "qt_loaded": qt_loaded, **extra}))
    """
)

IMPORT_EVERY_MODULE = BLOCKER + textwrap.dedent(
    """
    imported = []
    for package in ("domain", "models", "persistence", "services"):
        pkg = importlib.import_module(f"poems_monitor.{package}")
        imported.append(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            importlib.import_module(info.name)
            imported.append(info.name)
    report(imported=imported)
    """
)

USE_THE_RECORD = BLOCKER + textwrap.dedent(
    """
    import tempfile
    from datetime import date
    from pathlib import Path

    from poems_monitor.persistence.db import open_database
    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.audit import verify_chain
    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.services.timeline_io import export_timeline

    folder = Path(tempfile.mkdtemp())
    db = open_database(folder / "clinic.sqlite")  # runs the Alembic migration scripts too
    create_demo_clinic(db, 3, seed=5, actor=Actor("nurse", Role.NURSE), today=date(2026, 11, 21))
    document = export_timeline(db)
    with db.read() as session:
        chain = verify_chain(session)
    db.dispose()
    report(patients=len(document["patients"]), chain_problems=len(chain))
    """
)

CLI_HEADLESS = BLOCKER + textwrap.dedent(
    """
    import tempfile
    from pathlib import Path

    from poems_monitor.cli import main

    folder = Path(tempfile.mkdtemp())
    codes = [
        main(["demo", "--patients", "2", "--seed", "1", "--db", str(folder / "c.sqlite")]),
        main(["export", "--db", str(folder / "c.sqlite"), str(folder / "c.json")]),
        main(["import", "--db", str(folder / "d.sqlite"), str(folder / "c.json")]),
    ]
    report(codes=codes)
    """
)


def run_blocked(script: str) -> dict:
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_blocker_really_blocks_qt():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + "import pyqtgraph\n"], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "Qt is blocked in this test: pyqtgraph" in result.stderr


def test_every_core_module_imports_without_qt():
    outcome = run_blocked(IMPORT_EVERY_MODULE)
    assert outcome["attempts"] == []  # not even an import that was caught and ignored
    assert outcome["qt_loaded"] == []
    imported = set(outcome["imported"])
    # the walk really found the modules (a vacuous walk would pass anything)
    assert {
        "poems_monitor.domain.catalogue", "poems_monitor.domain.units", "poems_monitor.domain.validation",
        "poems_monitor.domain.timeline", "poems_monitor.domain.timeline_json", "poems_monitor.models.visit",
        "poems_monitor.persistence.db", "poems_monitor.persistence.repositories.timelines",
        "poems_monitor.services.audit", "poems_monitor.services.timeline_io", "poems_monitor.services.visits",
        "poems_monitor.services.patients", "poems_monitor.services.users", "poems_monitor.services.access",
        "poems_monitor.services.demo_clinic",
    } <= imported
    on_disk = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for package in ("domain", "models", "persistence", "services")
        for p in (ROOT / "poems_monitor" / package).rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts
    }
    assert on_disk <= imported, f"not imported: {sorted(on_disk - imported)}"


def test_the_record_works_without_qt():
    outcome = run_blocked(USE_THE_RECORD)
    assert outcome["attempts"] == []
    assert outcome["qt_loaded"] == []
    assert outcome["patients"] == 3
    assert outcome["chain_problems"] == 0


def test_demo_export_and_import_commands_run_without_qt():
    outcome = run_blocked(CLI_HEADLESS)
    assert outcome["codes"] == [0, 0, 0]
    assert outcome["attempts"] == []
    assert outcome["qt_loaded"] == []
