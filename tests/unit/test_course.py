"""Shared course helpers (month steps, as-of clipping, lines of therapy) and the domain's layering."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

try:  # tests/ may be a package (relative import) or plain folders (basename import)
    from .timeline_builders import event, patient, treatment, visit
except ImportError:
    from timeline_builders import event, patient, treatment, visit  # type: ignore[no-redef]

from poems_monitor.domain.course import (
    LineIndex, active_on, add_months, clip, is_line, lines_of_therapy, regimen_label,
)


@pytest.mark.parametrize(
    "start, months, expected",
    [
        ("2024-01-31", 1, "2024-02-29"),  # clamped to the end of a leap February
        ("2023-01-31", 1, "2023-02-28"),
        ("2024-03-15", 3, "2024-06-15"),
        ("2024-11-30", 3, "2025-02-28"),  # across the year end
        ("2024-03-31", -1, "2024-02-29"),
        ("2026-11-21", -24, "2024-11-21"),
        ("2024-05-10", 0, "2024-05-10"),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(date.fromisoformat(start), months) == date.fromisoformat(expected)


def test_clip_drops_what_was_not_known_on_as_of():
    pt = patient(
        visit("2020-01-01"), visit("2020-06-01"),
        treatments=[treatment("lenalidomide_dexamethasone", "2020-02-01", "2020-09-01"),
                    treatment("asct", "2020-05-01", engraftment="2020-05-14"),
                    treatment("bortezomib_dexamethasone", "2021-01-01")],
        events=[event("dvt", "2020-03-01"), event("relapse", "2020-12-01")],
    )
    c = clip(pt, date(2020, 5, 10))
    assert [v.date for v in c.visits] == [date(2020, 1, 1)]
    assert [e.type for e in c.events] == ["dvt"]
    assert [t.regimen for t in c.treatments] == ["lenalidomide_dexamethasone", "asct"]
    assert c.treatments[0].stop is None  # the stop was in the future on 2020-05-10
    assert c.treatments[1].engraftment_date is None
    assert clip(pt, date(2030, 1, 1)) is pt  # nothing to cut: no copy


def test_lines_of_therapy_exclude_supportive_treatments():
    pt = patient(treatments=[treatment("corticosteroids", "2020-01-01"), treatment("ivig", "2020-01-02"),
                             treatment("radiotherapy", "2020-02-01"), treatment("other", "2020-03-01", name="Trial X")])
    assert [t.regimen for t in lines_of_therapy(pt)] == ["radiotherapy", "other"]
    assert not is_line(pt.treatments[0])
    assert regimen_label(pt.treatments[-1]) == "Trial X"


def test_line_index_before_is_strict():
    lines = LineIndex((treatment("melphalan_dexamethasone", "2020-01-10"), treatment("asct", "2020-06-01")))
    assert lines.before(date(2020, 1, 10)) is None  # a value on the start day is pre-treatment
    assert lines.before(date(2020, 1, 11)).regimen == "melphalan_dexamethasone"
    assert lines.on_or_before(date(2020, 6, 1)).regimen == "asct"


@pytest.mark.parametrize(
    "t, day, active",
    [
        (treatment("lenalidomide_dexamethasone", "2020-01-01"), "2025-01-01", True),  # no stop: ongoing
        (treatment("lenalidomide_dexamethasone", "2020-01-01", "2020-06-01"), "2020-06-01", True),
        (treatment("lenalidomide_dexamethasone", "2020-01-01", "2020-06-01"), "2020-06-02", False),
        (treatment("asct", "2020-01-01"), "2020-01-02", False),  # one-off without a stop
        (treatment("asct", "2020-01-01"), "2019-12-31", False),
    ],
)
def test_active_on(t, day, active):
    assert active_on(t, date.fromisoformat(day)) is active


RULE_MODULES = ("course", "protocol", "derived", "criteria", "flags", "followup")


@pytest.mark.parametrize("name", RULE_MODULES)
def test_rule_modules_import_only_stdlib_domain_and_i18n(name):
    path = Path(__file__).resolve().parents[2] / "poems_monitor" / "domain" / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed_stdlib = {"__future__", "bisect", "calendar", "collections", "dataclasses", "datetime", "enum", "functools", "hashlib",
                      "importlib", "re", "tomllib", "types", "typing"}
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            if node.module == "poems_monitor":  # `from poems_monitor import local_format`
                modules = [f"poems_monitor.{a.name}" for a in node.names]
        for module in modules:
            top = module.split(".")[0]
            # i18n and local_format: the user's language's words, dates and decimals (no Qt, no files)
            assert (top in allowed_stdlib or module.startswith("poems_monitor.domain")
                    or module in ("poems_monitor.i18n", "poems_monitor.local_format")), f"{name}.py imports {module}"
