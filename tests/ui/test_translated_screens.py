"""The dashboard, the visit entry form and the worklist in Japanese show no English text of the
project's catalogue (issue 15): measure, feature, regimen and event names, chart legends and axis
labels, flag titles and texts, section titles and notes, combo-box words. Rendered in a process of
their own (`visible_texts.py`) because the language is chosen before the catalogue is imported.

Left in English on purpose, and so not looked for: proper names, codes (rule codes, the evidence's
keys, protocol setting keys), units, and what people typed (notes, acknowledgement reasons)."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = Path(__file__).with_name("visible_texts.py")
translations = runpy.run_path(str(ROOT / "scripts" / "translations"))

_TAGS = re.compile(r"<[^>]+>|&nbsp;|&[lg]t;|&amp;")
# Lines that are codes by design: "Rule: vegf_rise" and the evidence "key: value, ..." under it,
# and the acknowledgement line (who, when, and the reason the physician typed).
_CODE_LINES = re.compile(r"^(ルール：.*|[a-z_]+: .*|✓ .*)$", re.MULTILINE)
# Three or more lower-case English words in a row: a sentence nobody translated.
_ENGLISH_RUN = re.compile(r"\b[a-z][a-z'-]+(?: [a-z][a-z'-]+){2,}\b")
# What the demo clinic's people typed (event notes): data, shown as entered.
_TYPED_BY_PEOPLE = ("relapse work-up started", "treated with anticoagulation")


def _screens(folder: Path, language: str) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(LANGUAGE=language, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               POEMS_MONITOR_HOME=str(folder / "home"))
    done = subprocess.run([sys.executable, str(COLLECTOR), str(folder)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def japanese_screens(tmp_path_factory) -> dict[str, list[str]]:
    return _screens(tmp_path_factory.mktemp("screens-ja"), "ja")


@pytest.fixture(scope="module")
def french_screens(tmp_path_factory) -> dict[str, list[str]]:
    return _screens(tmp_path_factory.mktemp("screens-fr"), "fr")


def _shown(text: str) -> str:
    text = _CODE_LINES.sub("", _TAGS.sub(" ", text))
    for typed in _TYPED_BY_PEOPLE:
        text = text.replace(typed, "")
    return text


def _translated_sources() -> list[str]:
    """English source texts (a catalogue word or a message without placeholders) whose Japanese is
    different: each must never be seen on a Japanese screen."""
    catalog = translations["read"](ROOT / "resources" / "translations" / "ja.po", "ja")
    sources = []
    for m in catalog:
        if isinstance(m.id, str) and m.id and m.string and m.string != m.id and "{" not in m.id and "%" not in m.id \
                and re.search(r"[A-Za-z]{4}", m.id):
            sources.append(m.id)
    return sources


def _english_in(texts: list[str]) -> list[str]:
    sources = _translated_sources()
    patterns = [re.compile(r"(?<![\w-])" + re.escape(s) + r"(?![\w-])") for s in sources]
    lowered = [re.compile(r"(?<![\w-])" + re.escape(s[0].lower() + s[1:]) + r"(?![\w-])")
               for s in sources if s[:1].isupper() and s[1:2].islower()]
    found = []
    for raw in texts:
        text = _shown(raw)
        hits = [p.pattern for p in patterns + lowered if p.search(text)]
        hits += _ENGLISH_RUN.findall(text)
        if hits:
            found.append(f"{raw[:120]!r}: {sorted(set(hits))[:4]}")
    return found


@pytest.mark.parametrize("screen", ["dashboard", "entry", "worklist"])
def test_no_english_catalogue_text_on_a_japanese_screen(japanese_screens, screen):
    texts = japanese_screens[screen]
    assert len(texts) > 100  # the screen was built and filled
    assert not _english_in(texts), "\n".join(_english_in(texts))


def test_every_message_asked_for_is_in_the_catalogue(japanese_screens):
    """A string handed to tr() through a variable (a dict of words, a section title) that was never
    marked for extraction has no translation: building the three screens asks for none."""
    assert japanese_screens["asked, not in the catalogue"] == []


def test_the_check_sees_english(japanese_screens):
    """The check can fail: English names and sentences next to Japanese ones are caught."""
    assert _english_in(["2026-05-24 のPlatelets 488", "Examinations done at this visit"])
    assert not _english_in(["ルール：vegf_rise", "血小板 488 ×10⁹/L", "Aiko Haddad (H-100003)"])


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FRENCH_DAY = re.compile(r"^\d{1,2} (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.) \d{4}$")


def test_french_screens_write_dates_and_decimals_the_french_way(french_screens):
    """Dates in the worklist's and the patient list's columns read "2 déc. 2026"; the values the
    entry form shows beside each field read "16,8 g/dL" (a nurse typing "1,5" gets 1.5:
    tests/ui/test_visit_entry.py types "13,1")."""
    worklist = french_screens["worklist"]
    assert [t for t in worklist if _FRENCH_DAY.match(t)], "no French date in the worklist"
    every = [t for texts in french_screens.values() for t in texts]
    assert not [t for t in every if _ISO_DAY.match(t)], [t for t in every if _ISO_DAY.match(t)][:5]
    previous = [t for t in french_screens["entry"] if "<small>" in t]
    assert previous and [t for t in previous if re.match(r"^\d+,\d+ ", t)]
    assert not [t for t in previous if re.match(r"^\d+\.\d+ ", t)]


def test_japanese_pdf_summary_has_every_heading_translated(tmp_path):
    """The printed summary in Japanese (read back with pdftotext): its headings and the catalogue's
    names are Japanese, and the font that draws them is embedded."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), POEMS_MONITOR_HOME=str(tmp_path / "home"))
    db, pdf = str(tmp_path / "clinic.sqlite"), tmp_path / "summary-ja.pdf"

    def cli(*args: str, language: str = "en") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "poems_monitor", "--db", db, *args], capture_output=True,
                              text=True, env={**env, "LANGUAGE": language}, timeout=600, cwd=ROOT)

    assert cli("demo", "--patients", "2", "--yes").returncode == 0
    done = cli("report", "--mrn", "H-100000", str(pdf), language="ja")
    assert done.returncode == 0, done.stderr
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in ("確認待ちのフラグ", "期限の経過観察", "診断基準", "最新の値", "治療", "治療ラインごとの効果", "このサマリーについて"):
        assert heading in text, heading
    for english in ("Flags to review", "Follow-up due", "Treatments", "Latest values", "Response by line of therapy",
                    "About this summary", "Diagnostic criteria"):
        assert english not in text, english
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert not _english_in(lines), "\n".join(_english_in(lines))
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "DroidSansFallback" in fonts or "Noto" in fonts  # a font with the Japanese glyphs, embedded
