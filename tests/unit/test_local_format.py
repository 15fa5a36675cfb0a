"""Dates, decimals and lists as each shipped language writes them (issue 15); English keeps ISO."""

from __future__ import annotations

from datetime import date

import pytest

from poems_monitor import i18n, local_format


@pytest.fixture(autouse=True)
def back_to_english():
    yield
    i18n.set_language("en")


@pytest.mark.parametrize(("language", "day", "numeric", "decimal", "both", "three", "either", "count"), [
    ("en", "2026-12-02", "2026-12-02", "16.8 g/dL", "A and B", "A, B, and C", "g/L or g/dL", "131,373"),
    ("fr", "2 déc. 2026", "02/12/2026", "16,8 g/dL", "A et B", "A, B et C", "g/L ou g/dL", "131\u202f373"),
    ("ja", "2026/12/02", "2026/12/02", "16.8 g/dL", "A、B", "A、B、C", "g/Lまたはg/dL", "131,373"),
])
def test_each_language_writes_its_own_way(language, day, numeric, decimal, both, three, either, count):
    i18n.set_language(language)
    assert local_format.count_text(131_373) == count
    assert local_format.count_text(999) == "999"
    assert local_format.day(date(2026, 12, 2)) == day
    assert local_format.day(date(2026, 12, 2), numeric=True) == numeric
    assert local_format.day(None, "—") == "—"
    assert local_format.decimal_text("16.8 g/dL") == decimal
    assert i18n.and_list(["A", "B"]) == both
    assert i18n.and_list(["A", "B", "C"]) == three
    assert i18n.and_list(["A"]) == "A"
    assert i18n.or_list(["g/L", "g/dL"]) == either
