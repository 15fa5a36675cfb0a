"""Smoke test of the built bundle: it runs with no Python and no environment, from a folder
outside the repository. Slow (the build takes minutes), so it runs only when asked:

    POEMS_BUNDLE_TEST=1 PYTHONPATH=$PWD .venv/bin/python -m pytest tests/bundle/test_bundle_smoke.py

builds with packaging/build first; POEMS_BUNDLE_DIR=dist/poems-monitor tests an existing build.
The program gets an empty environment (what `env -i` gives: no PATH, so no Python reachable,
and no locale) plus HOME pointing at a scratch folder for its data, settings and logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = sys.platform == "win32"
PROGRAM = "poems-monitor.exe" if WINDOWS else "poems-monitor"
SIZE_LIMIT = 250_000_000
QT_PLUGIN_DIRS = {"platforms", "imageformats", "iconengines", "printsupport", "xcbglintegrations",
                  "platforminputcontexts", "styles"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("POEMS_BUNDLE_TEST") != "1",
                       reason="builds the bundle (minutes): set POEMS_BUNDLE_TEST=1"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The bundle, copied out of the repository (so nothing can be read from the checkout)."""
    given = os.environ.get("POEMS_BUNDLE_DIR")
    if given:
        source = Path(given).resolve()
    else:
        build = [sys.executable, str(ROOT / "packaging" / "build.py")] + os.environ.get("POEMS_BUNDLE_ARGS", "").split()
        subprocess.run(build, cwd=ROOT, check=True, timeout=3600)
        source = ROOT / "dist" / "poems-monitor"
    target = tmp_path_factory.mktemp("installed") / "poems-monitor"
    shutil.copytree(source, target, symlinks=True)
    assert ROOT not in target.parents
    return target


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundle-home")


def run(bundle: Path, home: Path, *args: str, timeout: int = 600,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), **(extra_env or {})}  # like `env -i HOME=...`: no PATH, no PYTHON*, no LANG, no DISPLAY
    if WINDOWS:  # a Windows process cannot start without these two
        env.update(SYSTEMROOT=os.environ.get("SYSTEMROOT", r"C:\Windows"), USERPROFILE=str(home))
    return subprocess.run([str(bundle / PROGRAM), *args], env=env, cwd=home, check=False, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=timeout)


def _errors_in_logs(home: Path) -> list[str]:
    return [line for log in home.rglob("*.log") for line in log.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line]


def test_help_lists_every_command(bundle, home):
    from poems_monitor.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    shown = run(bundle, home, "--help")
    assert shown.returncode == 0, shown.stderr
    missing = [name for name in commands if not re.search(rf"^\s+{re.escape(name)}\b", shown.stdout, re.MULTILINE)]
    assert not missing, f"--help of the bundle lacks {missing}"


def test_version_names_the_rules_it_was_built_from(bundle, home):
    from poems_monitor.services.rules_cache import rules_version

    rules_version.cache_clear()
    shown = run(bundle, home, "--version")
    assert shown.returncode == 0, shown.stderr
    assert f"rules fingerprint: {rules_version()}" in shown.stdout


def test_demo_report_and_screenshot_with_no_python(bundle, home):
    db = home / "clinic.sqlite"
    made = run(bundle, home, "--db", str(db), "demo", "--patients", "5", "--seed", "7")
    assert made.returncode == 0, made.stderr
    assert "5 new patients" in made.stdout

    flags = run(bundle, home, "--db", str(db), "flags", "--json")
    assert flags.returncode == 0, flags.stderr
    mrn = min(flag["mrn"] for flag in json.loads(flags.stdout)["flags"])

    pdf = home / "summary.pdf"
    report = run(bundle, home, "--db", str(db), "report", "--mrn", mrn, str(pdf))
    assert report.returncode == 0, report.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=False, capture_output=True, text=True, timeout=120).stdout
        assert mrn in text and "patient summary" in text

    png = home / "dashboard.png"
    shot = run(bundle, home, "--db", str(db), "gui", "--screenshot", str(png), "--mrn", mrn, "--size", "1366x768")
    assert shot.returncode == 0, shot.stderr
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1366, 768)
    assert png.stat().st_size > 50_000  # a drawn dashboard with charts, not a blank window
    assert "Error" not in shot.stderr, shot.stderr
    assert _errors_in_logs(home) == []


KANJI_TIMELINE = {"format": "poems-monitor/timeline", "version": 1, "patients": [
    {"mrn": "JP-0001", "name": "山田 花子", "sex": "female", "birth_date": "1966-04-28",
     "visits": [{"date": "2024-03-14", "observations": [{"code": "platelets", "value": 512, "unit": "10*9/L"}]}]}]}


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")
def test_japanese_summary_embeds_the_bundled_font(bundle, home):
    """LANGUAGE=ja: the summary's Japanese text and a name in kanji are drawn with the bundle's
    VL PGothic (this machine has no such font installed: it can only come from the bundle), and
    the text layer holds the kanji themselves (page 1 was looked at: no missing-glyph boxes)."""
    from poems_monitor.ui import fonts

    assert (bundle / "_internal" / "poems_monitor" / "resources" / fonts.BUNDLED_JAPANESE_FONT).is_file()
    db = home / "clinic-ja.sqlite"
    source = home / "kanji.json"
    source.write_text(json.dumps(KANJI_TIMELINE, ensure_ascii=False), encoding="utf-8")
    made = run(bundle, home, "--db", str(db), "import", str(source))
    assert made.returncode == 0, made.stderr
    pdf = home / "summary-ja.pdf"
    env_ja = {"LANGUAGE": "ja"}
    report = run(bundle, home, "--db", str(db), "report", "--mrn", "JP-0001", str(pdf), extra_env=env_ja)
    assert report.returncode == 0, report.stderr
    listed = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True, timeout=60).stdout
    assert "VL-PGothic-Regular" in listed and "Droid" not in listed, listed
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60).stdout
    assert "山田 花子" in text and "診療録番号" in text


def test_bundle_carries_what_it_needs_and_nothing_else(bundle):
    internal = bundle / "_internal"
    package = internal / "poems_monitor"
    assert (package / "persistence" / "migrations" / "env.py").is_file()
    assert len(list((package / "persistence" / "migrations" / "versions").glob("0*.py"))) >= 7
    assert (package / "resources" / "protocol.default.toml").is_file()
    assert (package / "resources" / "icons" / "poems-monitor.svg").is_file()
    assert (package / "resources" / "guide" / "index.html").is_file()
    assert (package / "resources" / "build-stamp.json").is_file()
    licences = (bundle / "THIRD-PARTY-LICENSES.txt").read_text(encoding="utf-8")
    assert "PySide6" in licences
    assert "- VL PGothic font (VL-PGothic-Regular.ttf): M+ FONTS licence" in licences and "M+ FONTS" in licences
    plugins = internal / "PySide6" / "Qt" / "plugins"
    assert {p.name for p in plugins.iterdir()} <= QT_PLUGIN_DIRS
    if not WINDOWS and sys.platform != "darwin":
        assert {p.name for p in (plugins / "platforms").iterdir()} == {"libqoffscreen.so", "libqxcb.so"}
    unwanted = [p for p in bundle.rglob("*") if p.is_dir() and p.name in {"tests", "examples", "__pycache__"}
                and "poems_monitor" not in p.parts]
    assert unwanted == []
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    assert size <= SIZE_LIMIT, f"{size / 1e6:.0f} MB unpacked"
