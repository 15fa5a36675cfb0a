"""The desktop resources people install: the icon, the desktop entry, the AppStream metainfo and
the user guide; and the window wearing the icon."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from poems_monitor import shipped

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "resources" / "linux"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(LINUX / f"{shipped.APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_icon_svg_draws_a_picture(qapp):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(ROOT / "resources" / shipped.APP_ICON))
    assert renderer.isValid()
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    opaque = sum(1 for x in range(64) for y in range(64) if image.pixelColor(x, y).alpha() > 200)
    assert opaque > 64 * 64 * 0.7  # a filled card, not an empty or clipped drawing


def test_every_window_wears_the_app_icon(qapp):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QWidget

    from poems_monitor.app import set_app_identity

    before = qapp.windowIcon()
    try:
        qapp.setWindowIcon(QIcon())
        set_app_identity(qapp)
        window = QWidget()
        assert not window.windowIcon().isNull()
        assert window.windowIcon().pixmap(32, 32).width() == 32
        assert qapp.desktopFileName() == shipped.APP_ID
    finally:
        qapp.setWindowIcon(before)


def test_desktop_entry_names_the_program_and_icon():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "poems-monitor"
    assert entry["Icon"] == shipped.APP_ID
    assert entry["Terminal"] == "false"
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(LINUX / f"{shipped.APP_ID}.desktop")],
                                check=False, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "error" not in result.stdout


def test_metainfo_is_valid_and_names_this_release():
    path = LINUX / f"{shipped.APP_ID}.metainfo.xml"
    root = ET.parse(path).getroot()
    assert root.findtext("id") == shipped.APP_ID
    assert root.findtext("project_license") == shipped.LICENCE
    assert root.find("launchable").text == f"{shipped.APP_ID}.desktop"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert version in [r.get("version") for r in root.iter("release")], "add a <release> for the new version"
    if shutil.which("appstreamcli"):
        result = subprocess.run(["appstreamcli", "validate", "--no-net", str(path)], check=False, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_user_guide_covers_each_screen_and_its_links_resolve():
    guide = shipped.find(shipped.GUIDE_INDEX)
    assert guide is not None
    html = guide.read_text(encoding="utf-8")
    for topic in ("Entering a visit", "dashboard", "Flags", "worklist", "Backups", "Keyboard shortcuts",
                  "not evaluable", "DEFAULT"):
        assert topic in html, topic
    anchors = set(re.findall(r'id="([^"]+)"', html))
    links = set(re.findall(r'href="#([^"]+)"', html))
    assert links and links <= anchors, links - anchors
    # offline: no link or picture fetched from the network
    assert not re.search(r'(src|href)="https?://', html)


def _build_module():  # noqa: ANN202 (packaging/build.py, imported as the build runs it)
    import importlib.util

    spec = importlib.util.spec_from_file_location("poems_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_font_package_is_checked_and_unpacked_without_dpkg(tmp_path):
    """The build's Japanese font comes from a Debian package file pinned by SHA-256 and unpacked in
    Python (Windows and macOS have no dpkg): a file with another hash is refused."""
    import hashlib
    import io
    import tarfile

    build = _build_module()
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:xz") as tar:
        data = b"a font"
        info = tarfile.TarInfo("./usr/share/fonts/truetype/vlgothic/VL-PGothic-Regular.ttf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    def member(name: str, body: bytes) -> bytes:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        return header + body + (b"\n" if len(body) % 2 else b"")

    deb = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("control.tar.xz", b"x") + \
        member("data.tar.xz", payload.getvalue())
    source = tmp_path / "font.deb"
    source.write_bytes(deb)
    with pytest.raises(SystemExit, match="SHA-256 differs"):
        build.download_checked(source.as_uri(), "0" * 64)
    fetched = build.download_checked(source.as_uri(), hashlib.sha256(deb).hexdigest())
    build.unpack_deb(fetched, tmp_path / "unpacked")
    assert (tmp_path / "unpacked" / build.JAPANESE_FONT_DIR / build.JAPANESE_FONT_FILE).read_bytes() == b"a font"
