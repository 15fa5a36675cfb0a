"""The printable patient summary against a real SQLite file, rendered offscreen to PDF and read
back with poppler (pdftotext, pdfimages, pdfinfo): pages, text, charts, page sizes."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest

from poems_monitor.services.flag_review import acknowledge_flag
from poems_monitor.services.patient_summary import build_patient_summary
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, event, obs, patient, treatment, visit

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")


@pytest.fixture
def clinic(db, admin, physician):
    jane = patient(
        visit("2021-01-10", vegf_plasma=1240, platelets=520, hemoglobin=13.0, dlco_pct=70, onls_arm=2, onls_leg=3,
              features={**BASELINE_FEATURES, "sclerotic_bone_lesions": "present", "peripheral_edema": "present"}),
        visit("2021-04-10", vegf_plasma=600, platelets=400, onls_arm=2, onls_leg=2,
              features={"pleural_effusion": "absent"}),
        visit("2021-07-10", obs("vegf_serum", 2500), platelets=300, pasp=45, lvef=60, tsh=6.2,
              features={"pleural_effusion": "present"}),
        treatments=[treatment("lenalidomide_dexamethasone", "2021-02-01", "2021-12-01", prophylaxis="none"),
                    treatment("asct", "2022-01-15", engraftment="2022-01-28")],
        events=[event("dvt", "2021-03-01", note="calf vein")],
        sex="female",
    )
    import_patients(db, [jane], admin, reason="test")
    summary = build_patient_summary(db, "H-000123", TODAY)
    thrombo = next(f for f in summary.dashboard.flags if f.flag.code == "thrombocytosis")
    acknowledge_flag(db, physician, "H-000123", thrombo.flag.flag_id, "Known, falling on therapy", as_of=TODAY)
    return db


def pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"[ \t\u00a0]+", " ", out)


def pdf_info(path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def pdf_images(path) -> list[list[str]]:
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def test_summary_content_is_assembled_without_qt(clinic):
    s = build_patient_summary(clinic, "H-000123", TODAY, generated_by="dr-berg")
    assert s.name == "Jane Example" and s.as_of == TODAY
    crit = {c.name: c for c in s.criteria}
    assert crit["Polyradiculoneuropathy"].first_documented == date(2021, 1, 10)
    assert crit["Sclerotic bone lesions"].used
    assert crit["Castleman disease"].first_documented is None
    latest = {v.code: v for v in s.latest}
    assert latest["platelets"].value == "300" and latest["platelets"].unit == "×10⁹/L"
    assert latest["platelets"].reference == "150–450" and latest["platelets"].mark == ""
    assert latest["tsh"].mark == "H"
    assert latest["vegf_plasma"].date == date(2021, 4, 10)
    assert [t.name for t in s.treatments][0].startswith("Lenalidomide")
    assert s.acknowledged_flags and s.open_flags
    assert s.generated_by == "dr-berg" and str(clinic.path) in s.database
    assert any(i.status is not None for i in s.action_items)


def test_pdf_pages_text_and_charts(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    target = tmp_path / "summary.pdf"
    result = write_patient_summary(clinic, "H-000123", target, "A4", TODAY, generated_by="dr-berg")
    assert target.exists() and not (tmp_path / "summary.pdf.partial").exists()
    info = pdf_info(target)
    assert int(info["Pages"]) == result.pages
    assert 2 <= result.pages <= 5
    assert "A4" in info["Page size"]
    text = pdf_text(target)
    # identity, as-of and provenance on the page
    assert "Jane Example" in text and "MRN H-000123" in text and "as of 2026-11-21" in text
    assert "by dr-berg from" in text and clinic.path.name in text.split("About this summary")[1]
    assert text.count("Page 1 of") == 1 and f"Page {result.pages} of {result.pages}" in text
    assert text.count("supports clinicians; it does not diagnose") == result.pages + 1  # every footer + the end
    assert "DEFAULT" in text
    # criteria with the date each was first documented
    assert re.search(r"Polyradiculoneuropathy mandatory 2021-01-10", text)
    assert re.search(r"Sclerotic bone lesions major 2021-01-10", text)
    assert re.search(r"Castleman disease major not documented", text)
    # flags with their explanations; the acknowledged one with who and the comment
    assert "Pleural effusion is new" in text
    assert "Acknowledged by dr-berg" in text and "Known, falling on therapy" in text
    assert "rule: new_feature" in text
    # follow-up that needs action
    assert "Overdue" in text or "Never done" in text
    # latest values with units and reference ranges
    assert re.search(r"Platelets 300 ×10⁹/L 150–450 2021-07-10", text)
    # the TSH range is UNVERIFIED in the clinical reference: marked † (DEFAULT, not literature)
    assert re.search(r"TSH 6\.20 H mIU/L 0\.3–5 † 2021-07-10", text)
    assert re.search(r"VEGF \(plasma\) 600 H pg/mL 0–96\.2 2021-04-10 plasma", text)
    # treatments and events
    assert re.search(r"Lenalidomide–\s*(dexamethasone )?2021-02-01 – 2021-12-01 line of therapy None", text)
    assert "High-dose melphalan" in text and "engraftment" in text and "2022-01-28" in text
    assert "Autologous" in text or "ASCT" in text
    assert "Deep vein thrombosis" in text and "calf vein" in text
    # the charts: one image per chart with values, at print resolution
    images = pdf_images(target)
    charts = [row for row in images if row[2] == "image"]
    assert len(charts) == len(result_charts(clinic))
    assert all(int(row[3]) >= 900 for row in charts)  # about 300 dpi at half the page width
    for title in ("Trends", "Platelets and haemoglobin", "Lung function", "Neuropathy", "Echocardiography"):
        assert title in text


def result_charts(db) -> list[str]:
    from poems_monitor.ui.charts.trend_chart import CHART_SPECS

    d = build_patient_summary(db, "H-000123", TODAY).dashboard
    return [s.key for s in CHART_SPECS if any(c in d.series for c in s.codes)]


def test_a4_and_letter_differ(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    a4 = write_patient_summary(clinic, "H-000123", tmp_path / "a4.pdf", "A4", TODAY)
    letter = write_patient_summary(clinic, "H-000123", tmp_path / "letter.pdf", "Letter", TODAY)
    size_a4 = pdf_info(a4.path)["Page size"]
    size_letter = pdf_info(letter.path)["Page size"]
    assert size_a4.startswith("595") and "842" in size_a4
    assert size_letter.startswith("612 x 792")
    assert "Jane Example" in pdf_text(letter.path)


def test_as_of_clips_the_record(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    result = write_patient_summary(clinic, "H-000123", tmp_path / "early.pdf", "A4", date(2021, 5, 1))
    text = pdf_text(result.path)
    assert "as of 2021-05-01" in text
    assert "2021-07-10" not in text.split("Latest values")[1]  # the July visit is after the as-of date
    assert "Pleural effusion is new" not in text


def test_unknown_mrn_and_bad_page_size(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    with pytest.raises(KeyError):
        write_patient_summary(clinic, "H-NOPE", tmp_path / "x.pdf")
    with pytest.raises(ValueError):
        write_patient_summary(clinic, "H-000123", tmp_path / "x.pdf", page_size="A5")
    assert not (tmp_path / "x.pdf").exists()


def test_print_preview_paints_the_same_pages(qapp, clinic):
    from PySide6.QtPrintSupport import QPrinter

    from poems_monitor.ui.report.actions import SummaryPrinting, summary_preview_dialog

    printing = SummaryPrinting.load(clinic, "H-000123", TODAY)
    dialog = summary_preview_dialog(None, printing, "Letter")
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        printer.setOutputFileName(f"{folder}/printed.pdf")
        from PySide6.QtGui import QPageSize

        printer.setPageSize(QPageSize(QPageSize.PageSizeId.Letter))
        pages = printing.paint(printer)
        assert pages == printing.document("Letter").page_count >= 2
    dialog.deleteLater()


def test_page_one_is_filled_and_no_chart_row_is_cut(qapp, clinic, tmp_path):
    """The trends section is not kept whole on the next page: a row of charts is kept whole, so
    the charts start on page 1 when a row fits there, or the latest values fill page 1 first."""
    from poems_monitor.ui.report.summary_document import SummaryDocument, pdf_writer

    for page_size in ("A4", "Letter"):
        document = SummaryDocument(build_patient_summary(clinic, "H-000123", TODAY), page_size, chart_dpi=60)
        writer = pdf_writer(tmp_path / f"{page_size}.pdf", document.summary, page_size)
        document.lay_out(writer)
        rect, _header, _footer, mm = document._geometry(writer)
        body = document._body
        layout = document.document.documentLayout()
        rows = document._chart_rows()
        assert len(rows) == 3  # five charts and the "not charted" note in rows of two
        for table in rows:
            box = layout.frameBoundingRect(table)
            assert int((box.top() + 1) // body) == int((box.bottom() - 1) // body), page_size  # on one page
        assert document._first_page_blank(body) <= 35 * mm, page_size
        del writer
