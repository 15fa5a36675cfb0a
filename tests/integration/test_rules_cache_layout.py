"""One rules cache: the worklist and the dashboard are stamped by the one `read_stamps` and kept in
the one in-process memo of `services.rules_cache`; the reduction is a public domain API (no
private name crosses a module boundary in the domain or the services)."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from poems_monitor.domain.timeline import EventRecord
from poems_monitor.services import rules_cache
from poems_monitor.services.dashboard import build_dashboard, forget_dashboards
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.patients import add_event
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.services.worklist import build_worklist

from ..conftest import TODAY

PACKAGE = Path(rules_cache.__file__).resolve().parents[1]


@pytest.fixture
def clinic(db, admin):
    import_patients(db, generate_patients(30, 7, TODAY), admin, reason="test clinic")
    rules_cache.forget()
    return db


def stamp_of(db, mrn):
    g = rules_cache.gather(db, TODAY, mrns=[mrn])
    pid = g.heads[0].patient_id
    with db.read() as session:
        assert rules_cache.read_stamps(session, db, [pid]).of(pid) == g.stamps[pid]  # one stamp for both
    return g.stamps[pid]


def test_the_dashboard_is_remembered_in_the_one_memo_under_the_patients_stamp(clinic, admin):
    build_worklist(clinic, TODAY)
    mrn, other = (p.mrn for p in generate_patients(30, 7, TODAY)[:2])
    d = build_dashboard(clinic, mrn, TODAY)
    assert build_dashboard(clinic, mrn, TODAY) is d  # remembered
    before = stamp_of(clinic, mrn)
    add_event(clinic, admin, other, EventRecord("dvt", TODAY - timedelta(days=2), "leg"), today=TODAY)
    assert build_dashboard(clinic, mrn, TODAY) is d  # another patient's write leaves it valid
    assert stamp_of(clinic, mrn) == before
    add_event(clinic, admin, mrn, EventRecord("dvt", TODAY - timedelta(days=2), "left calf"), today=TODAY)
    after = stamp_of(clinic, mrn)
    assert after.audit_id > before.audit_id and after.audit_hash != before.audit_hash
    again = build_dashboard(clinic, mrn, TODAY)
    assert again is not d and "dvt" in {e.type for e in again.events}
    rules_cache.forget()  # forgetting the rules cache's memo forgets the dashboard too: no second memo
    assert build_dashboard(clinic, mrn, TODAY) is not again


def test_remembered_dashboards_are_bounded_and_can_be_forgotten_alone(clinic):
    mrns = [p.mrn for p in generate_patients(30, 7, TODAY)][: rules_cache.VIEW_LIMIT + 1]
    first = build_dashboard(clinic, mrns[0], TODAY)
    for mrn in mrns[1:]:
        build_dashboard(clinic, mrn, TODAY)
    assert build_dashboard(clinic, mrns[-1], TODAY) is build_dashboard(clinic, mrns[-1], TODAY)
    assert build_dashboard(clinic, mrns[0], TODAY) is not first  # the least recently used was dropped
    g = rules_cache.gather(clinic, TODAY)
    g.plan(g.heads[0].patient_id)
    last = build_dashboard(clinic, mrns[-1], TODAY)
    forget_dashboards()
    assert build_dashboard(clinic, mrns[-1], TODAY) is not last
    assert rules_cache.gather(clinic, TODAY).from_cache == 30  # the rest of the memo and the table stay


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("poems_monitor"):
            found += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_domain_and_services_import_no_private_names_across_modules():
    files = sorted((PACKAGE / "domain").glob("*.py")) + sorted((PACKAGE / "services").glob("*.py"))
    assert (PACKAGE / "domain" / "reduced_course.py") in files
    assert [hit for f in files for hit in _private_imports(f)] == []
