"""One place per concept (issue 12 item 6): the words for severities, flag kinds, follow-up
statuses and items and the chart groups are written in the catalogue only; every screen, report
and command reads them there, so a renamed label changes everywhere at once."""

from __future__ import annotations

import re
from pathlib import Path

from poems_monitor.domain.catalogue import (
    CHART_GROUPS, FLAG_KIND_NAMES, FOLLOWUP_ITEM_NAMES, FOLLOWUP_STATUS_NAMES, MEASURE_GROUPS, SEVERITY_NAMES,
    SEVERITY_WORDS, followup_status_label, severity_label,
)
from poems_monitor.domain.flags import Severity
from poems_monitor.domain.followup import Status

PACKAGE = Path(__file__).resolve().parents[2] / "poems_monitor"
CATALOGUE = PACKAGE / "domain" / "catalogue.py"
# Labels that are also another concept's plain word: "Due" heads the due-date column, "critical"
# is also the entry tier of a critical lab value, "VEGF" the measure and the response domain.
SHARED_WORDS = {"Due", "critical", "VEGF"}


def _labels() -> set[str]:
    labels = {*SEVERITY_NAMES.values(), *SEVERITY_WORDS.values(), *FLAG_KIND_NAMES.values(),
              *FOLLOWUP_ITEM_NAMES.values(), *FOLLOWUP_STATUS_NAMES.values(), *MEASURE_GROUPS.values(),
              *(g.title for g in CHART_GROUPS)}
    labels |= {severity_label(s) for s in SEVERITY_NAMES} | {followup_status_label(s) for s in FOLLOWUP_STATUS_NAMES}
    return labels - SHARED_WORDS


def test_labels_are_written_in_the_catalogue_only() -> None:
    written_again = []
    for label in sorted(_labels()):
        pattern = re.compile(r"""tr\(\s*(["'])""" + re.escape(label) + r"\1\s*\)")
        for path in sorted(PACKAGE.rglob("*.py")):
            if path != CATALOGUE and pattern.search(path.read_text(encoding="utf-8")):
                written_again.append(f"{path.relative_to(PACKAGE.parent)}: tr({label!r})")
    assert not written_again, "\n".join(written_again)


def test_every_severity_and_status_has_its_words() -> None:
    assert set(SEVERITY_NAMES) == set(SEVERITY_WORDS) == {s.value for s in Severity}
    assert set(FOLLOWUP_STATUS_NAMES) == {s.value for s in Status}
    assert severity_label("critical") == "‼ Critical" and followup_status_label("due_soon") == "◷ Due soon"
