"""The Japanese patient summary draws its text with a font that has the Japanese glyphs: the
bundle's own (VL PGothic) when there is one, before anything the system has; else the system's
Japanese or CJK family. Read back with poppler (pdffonts, pdftotext). The real bundle is checked by
tests/bundle/test_bundle_smoke.py::test_japanese_summary_embeds_the_bundled_font."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from poems_monitor import i18n, shipped
from poems_monitor.ui import fonts
from tests.conftest import TODAY

ROOT = Path(__file__).resolve().parents[2]
NAME = "山田 花子"
# where packaging/build finds (or unpacks) VL PGothic on Debian
VL_FILES = [Path("/usr/share/fonts/truetype/vlgothic/VL-PGothic-Regular.ttf"),
            ROOT / "build" / "font-package" / "usr/share/fonts/truetype/vlgothic/VL-PGothic-Regular.ttf"]

pytestmark = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")


@pytest.fixture
def japanese_summary(qapp, db, admin, tmp_path):
    """Writes the Japanese summary of a patient whose name is in kanji; returns pdffonts' and
    pdftotext's output."""
    from poems_monitor.services.demo_clinic import generate_patient
    from poems_monitor.services.timeline_io import import_patients
    from poems_monitor.ui.report.summary_document import write_patient_summary

    patient = dataclasses.replace(generate_patient(3, 5, TODAY), mrn="JP-0001", name=NAME)
    import_patients(db, [patient], admin, reason="test")
    from PySide6.QtGui import QFontDatabase

    QFontDatabase.removeAllApplicationFonts()  # another test's "bundled" font is not the system's
    fonts.japanese_family.cache_clear()
    i18n.set_language("ja")

    def write() -> tuple[str, str]:
        pdf = tmp_path / "summary-ja.pdf"
        write_patient_summary(db, "JP-0001", pdf, as_of=TODAY, generated_by="test")
        listed = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True, timeout=60).stdout
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60).stdout
        return listed, text

    yield write
    i18n.set_language("en")
    QFontDatabase.removeAllApplicationFonts()
    fonts.japanese_family.cache_clear()


def embedded_fonts(listed: str) -> list[str]:
    return [line.split()[0] for line in listed.splitlines()[2:] if line.strip()]


def test_the_bundled_font_comes_before_the_system_one(japanese_summary, tmp_path, monkeypatch):
    source = next((p for p in VL_FILES if p.is_file()), None)
    if source is None:
        pytest.skip("no VL PGothic file on this machine yet (packaging/build fetches it into build/)")
    bundle = tmp_path / "bundle-resources"
    (bundle / "fonts").mkdir(parents=True)
    shutil.copy2(source, bundle / fonts.BUNDLED_JAPANESE_FONT)
    monkeypatch.setattr(shipped, "PACKAGE_RESOURCES", bundle)
    listed, text = japanese_summary()
    assert fonts.japanese_family() == "VL PGothic"
    used = embedded_fonts(listed)
    assert "VL-PGothic-Regular" in used, listed
    assert not [f for f in used if "Droid" in f], listed  # the system's Chinese-form fallback is not used
    # the text layer holds the kanji themselves (searchable, copyable), not look-alike radicals
    assert NAME in text and "生まれ" in text and "診療録番号" in text


def test_without_a_bundled_font_the_system_japanese_family_is_embedded(japanese_summary, monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "PACKAGE_RESOURCES", tmp_path / "no-bundle")
    monkeypatch.setattr(shipped, "CHECKOUT_RESOURCES", tmp_path / "no-checkout")
    listed, text = japanese_summary()
    family = fonts.japanese_family()
    if family is None:
        pytest.skip("this machine has no Japanese or CJK font")
    assert [f for f in embedded_fonts(listed) if f.replace("-", "").startswith(family.replace(" ", ""))], listed
    assert NAME in text


def test_the_japanese_family_is_last_so_latin_text_keeps_its_design(qapp, monkeypatch):
    monkeypatch.setattr(fonts, "japanese_family", lambda: "IPAexGothic")
    assert fonts.with_japanese_fallback(["DejaVu Sans", "Arial"]) == ["DejaVu Sans", "Arial", "IPAexGothic"]
    monkeypatch.setattr(fonts, "japanese_family", lambda: None)
    assert fonts.with_japanese_fallback(["DejaVu Sans"]) == ["DejaVu Sans"]
