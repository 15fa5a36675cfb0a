"""Build the poems-monitor bundle (one folder, no Python needed on the target) and its archive.

    packaging/build              # Linux/macOS: the wrapper finds the project's Python
    packaging/build --deb        # Linux: also the .deb (dpkg-deb), checked with lintian if present
    packaging\\build.ps1          # Windows: the same script

Steps: read the version from pyproject.toml; generate into build/generated/resources/ what the
bundle carries beside the code (the build stamp with the rules fingerprint computed from the
sources being frozen, the third-party licences, the icon PNGs rendered from the SVG, the user
guide); run PyInstaller on packaging/poems-monitor.spec; add the licence files and (Linux) the
desktop files; measure; archive. Untested here on Windows and macOS (see .github/workflows/bundle.yml).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "poems-monitor.spec"
DIST = ROOT / "dist"
BUILD = ROOT / "build"
GENERATED = BUILD / "generated"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
# The PDF's and the screens' Japanese glyphs (ui/fonts.py says why this one): VL PGothic, whole
# (4.1 MB: every JIS X 0208 kanji; a subset would drop kanji a patient's name may need).
JAPANESE_FONT_PACKAGE = "fonts-vlgothic"
JAPANESE_FONT_FILE = "VL-PGothic-Regular.ttf"
JAPANESE_FONT_DIR = "usr/share/fonts/truetype/vlgothic"
JAPANESE_FONT_NAME = "VL PGothic"
JAPANESE_FONT_LICENCE = "M+ FONTS licence, Sazanami font licence, BSD-3-Clause"
JAPANESE_FONT_DEB_URL = "https://deb.debian.org/debian/pool/main/f/fonts-vlgothic/fonts-vlgothic_20220612-1_all.deb"
JAPANESE_FONT_DEB_SHA256 = "81b0a42456747e7ec2f801028b254c33f8c720a99e15140c23f0861329687448"
SIZE_LIMIT_MB = 250

if str(ROOT) not in sys.path:  # the checkout being built, never an installed copy
    sys.path.insert(0, str(ROOT))

from poems_monitor.shipped import APP_ID  # noqa: E402 (after the checkout is put on the path)


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def platform_tag() -> str:
    system = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}.get(platform.system(), platform.system().lower())
    machine = {"AMD64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}.get(platform.machine(), platform.machine())
    return f"{system}-{machine}"


def pyside_wheel_tag() -> str:
    """The PySide6 wheel's platform tag (manylinux_2_34_x86_64 means glibc 2.34 or newer)."""
    from importlib.metadata import distribution

    wheel = distribution("PySide6_Essentials").read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    return ", ".join(tags) or "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               check=False, capture_output=True, text=True, timeout=20).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_stamp(version: str) -> dict:
    """What the frozen program cannot compute itself. The rules fingerprint is computed here, from
    the very sources PyInstaller is about to freeze, by the same function the program uses."""
    from poems_monitor import shipped
    from poems_monitor.services.rules_cache import rules_version

    assert not shipped.frozen()
    rules_version.cache_clear()
    libc, libc_version = platform.libc_ver()
    return {
        "version": version,
        "rules_fingerprint": rules_version(),
        "commit": git_commit(),
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": platform_tag(),
        "python": platform.python_version(),
        "glibc": libc_version if libc == "glibc" else "",
        "pyside6_wheel": pyside_wheel_tag(),
    }


def render_icons(svg: Path, out: Path) -> list[Path]:
    """PNGs of every size from the SVG, drawn by Qt's own SVG renderer (no network, no Inkscape)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (QImage painting needs it)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"the icon {svg} is not a valid SVG")
    written = []
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out / f"poems-monitor-{size}.png"
        if not image.save(str(path)):
            raise SystemExit(f"could not write {path}")
        written.append(path)
    big = QImage(str(out / "poems-monitor-256.png"))
    if platform.system() == "Windows":  # the .exe's icon; Qt's ico plugin writes it
        big.save(str(out / "poems-monitor.ico"))
    elif platform.system() == "Darwin":  # the .app's icon; Qt's icns plugin writes it
        big.save(str(out / "poems-monitor.icns"))
    return written


def generate(version: str, postgres: bool) -> dict:
    """build/generated/resources/: what the spec adds to the bundle's poems_monitor/resources/."""
    from poems_monitor import shipped, third_party

    shutil.rmtree(GENERATED, ignore_errors=True)
    res = GENERATED / "resources"
    (res / "icons").mkdir(parents=True)
    stamp = build_stamp(version)
    (res / shipped.STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    extras = {"postgres"} if postgres else set()
    from poems_monitor.ui import fonts

    font, font_licence, font_source = japanese_font()
    (res / "fonts").mkdir()
    shutil.copy2(font, res / fonts.BUNDLED_JAPANESE_FONT)
    shutil.copy2(font_licence, res / fonts.BUNDLED_JAPANESE_FONT_LICENCE)
    licences = third_party.licences_text(extras).replace(
        "\n- Python ", f"\n- {JAPANESE_FONT_NAME} font ({JAPANESE_FONT_FILE}): {JAPANESE_FONT_LICENCE}\n- Python ", 1)
    (res / shipped.LICENCES_NAME).write_text(licences + font_licence_section(font_licence, font_source), encoding="utf-8")
    shutil.copy2(ROOT / "resources" / shipped.APP_ICON, res / shipped.APP_ICON)
    render_icons(ROOT / "resources" / shipped.APP_ICON, res / "icons")
    shutil.copytree(ROOT / "resources" / "guide", res / "guide")
    return stamp


def japanese_font() -> tuple[Path, Path, str]:
    """The font file, a text holding its licence, and where it came from: the folder named by
    POEMS_BUILD_JAPANESE_FONT (VL-PGothic-Regular.ttf and LICENSE), else the installed Debian
    package, else Debian's package file fetched from the Debian archive (pinned by SHA-256) and
    unpacked in Python into build/ (the same on Windows and macOS, untested there). A bundle
    without it would print Japanese as boxes: the build stops instead."""
    folder = os.environ.get("POEMS_BUILD_JAPANESE_FONT")
    if folder:
        font, licence = Path(folder) / JAPANESE_FONT_FILE, Path(folder) / "LICENSE"
        if font.is_file() and licence.is_file():
            return font, licence, f"{folder} (POEMS_BUILD_JAPANESE_FONT)"
        raise SystemExit(f"POEMS_BUILD_JAPANESE_FONT={folder} must hold {font.name} and {licence.name}")
    for root in (Path("/"), BUILD / "font-package"):
        font = root / JAPANESE_FONT_DIR / JAPANESE_FONT_FILE
        licence = root / "usr/share/doc" / JAPANESE_FONT_PACKAGE / "copyright"
        if font.is_file() and licence.is_file():
            return font, licence, f"Debian package {JAPANESE_FONT_PACKAGE}"
    unpack_deb(download_checked(JAPANESE_FONT_DEB_URL, JAPANESE_FONT_DEB_SHA256), BUILD / "font-package")
    return japanese_font()


def download_checked(url: str, sha256: str) -> bytes:
    import hashlib
    import urllib.request

    print(f"fetching {url}")
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (a pinned https URL)
        data = response.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"{url} is not the file this build expects (SHA-256 differs)")
    return data


def unpack_deb(deb: bytes, target: Path) -> None:
    """Extract a .deb's data archive (an `ar` archive holding data.tar.xz) without dpkg."""
    import io

    if not deb.startswith(b"!<arch>\n"):
        raise SystemExit("not a Debian package")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset:offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = deb[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                tar.extractall(target, filter="data")
            return
        offset += 60 + size + (size % 2)
    raise SystemExit("the Debian package holds no data archive")


def font_licence_section(licence: Path, source: str) -> str:
    """The font's entry in THIRD-PARTY-LICENSES.txt: its name and licence, then the licence text."""
    rule = "=" * 78
    return "\n".join(["", rule, f"{JAPANESE_FONT_NAME} font ({JAPANESE_FONT_FILE}, from {source}, unmodified)",
                      f"Licence: {JAPANESE_FONT_LICENCE}", rule,
                      licence.read_text(encoding="utf-8", errors="replace").rstrip(), ""])


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def add_top_level_files(bundle: Path) -> None:
    """Licences beside the program, where IT looks; on Linux the desktop files the .deb and a
    hand install copy into /usr/share."""
    from poems_monitor import shipped

    shutil.copy2(ROOT / "LICENSE", bundle / "LICENSE.txt")
    shutil.copy2(GENERATED / "resources" / shipped.LICENCES_NAME, bundle / shipped.LICENCES_NAME)
    if platform.system() == "Linux":
        share = bundle / "share"
        (share / "applications").mkdir(parents=True, exist_ok=True)
        (share / "metainfo").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "resources" / "linux" / f"{APP_ID}.desktop", share / "applications")
        shutil.copy2(ROOT / "resources" / "linux" / f"{APP_ID}.metainfo.xml", share / "metainfo")
        for size in ICON_SIZES:
            target = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(GENERATED / "resources" / "icons" / f"poems-monitor-{size}.png", target / f"{APP_ID}.png")
        scalable = share / "icons" / "hicolor" / "scalable" / "apps"
        scalable.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "resources" / shipped.APP_ICON, scalable / f"{APP_ID}.svg")


def strip_python_debug_info(bundle: Path) -> None:
    """The interpreter built here (pyenv) carries its debug information: 17 MB of libpython
    alone. Strip the debug sections only (symbols stay) of the interpreter's own files; the
    wheels' libraries (Qt, numpy) come stripped already."""
    if platform.system() != "Linux" or not shutil.which("strip"):
        return
    internal = bundle / "_internal"
    files = [p for p in internal.glob("libpython*.so*") if not p.is_symlink()]
    files += list((internal / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "lib-dynload").glob("*.so"))
    if files:
        subprocess.run(["strip", "--strip-debug", *map(str, files)], check=True, timeout=300)


def archive(bundle: Path, version: str) -> Path:
    name = f"poems-monitor-{version}-{platform_tag()}"
    if platform.system() == "Windows":
        path = DIST / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for file in sorted(bundle.rglob("*")):
                z.write(file, Path("poems-monitor") / file.relative_to(bundle))
        return path
    path = DIST / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname="poems-monitor")
    return path


def build_deb(bundle: Path, version: str) -> Path:
    """A .deb made with dpkg-deb: the bundle in /opt/poems-monitor, /usr/bin/poems-monitor, the
    desktop entry, AppStream metainfo and icons under /usr/share."""
    from debian_package import make_deb  # packaging/debian_package.py

    return make_deb(bundle, version, DIST, ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the poems-monitor one-folder bundle and its archive.")
    parser.add_argument("--deb", action="store_true", help="also build the .deb (Linux, needs dpkg-deb)")
    parser.add_argument("--no-archive", action="store_true", help="leave out the .tar.gz / .zip")
    parser.add_argument("--no-postgres", action="store_true",
                        help="leave out the PostgreSQL driver (psycopg) even when it is installed")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first (a fresh-clone build)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    version = project_version()
    try:
        import psycopg  # noqa: F401

        postgres = not args.no_postgres
    except ImportError:
        postgres = False
    subprocess.run([sys.executable, str(ROOT / "scripts" / "translations"), "compile"], check=True, cwd=ROOT)  # .mo are not committed
    stamp = generate(version, postgres)
    print(f"poems-monitor {version}: rules fingerprint {stamp['rules_fingerprint']}, commit {stamp['commit']}")

    env = dict(os.environ, POEMS_BUILD_GENERATED=str(GENERATED), POEMS_BUILD_POSTGRES="1" if postgres else "0",
               POEMS_BUILD_VERSION=version,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    for name in ("poems-monitor.ico", "poems-monitor.icns"):
        if (GENERATED / "resources" / "icons" / name).is_file():
            env["POEMS_BUILD_EXE_ICON"] = str(GENERATED / "resources" / "icons" / name)
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller"), str(SPEC)]
    if args.clean:
        command.insert(3, "--clean")
    frozen_at = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd=ROOT)
    pyinstaller_seconds = time.perf_counter() - frozen_at

    bundle = DIST / "poems-monitor"
    for link in [p for p in bundle.rglob("*") if p.is_symlink() and not p.exists()]:
        link.unlink()  # PyInstaller's shortcuts to libraries the spec dropped (Wayland, EGLFS, ...)
    strip_python_debug_info(bundle)
    add_top_level_files(bundle)
    program = bundle / ("poems-monitor.exe" if platform.system() == "Windows" else "poems-monitor")
    shown = subprocess.run([str(program), "--version"], check=False, capture_output=True, text=True, timeout=120)
    if shown.returncode != 0 or stamp["rules_fingerprint"] not in shown.stdout:
        print(shown.stdout, shown.stderr, file=sys.stderr)
        raise SystemExit("the bundle does not run, or does not report the rules it was built from")
    size = folder_size(bundle)
    report = {"version": version, "seconds_total": None, "seconds_pyinstaller": round(pyinstaller_seconds, 1),
              "unpacked_bytes": size, "unpacked_mb": round(size / 1e6, 1), "glibc": stamp["glibc"],
              "pyside6_wheel": stamp["pyside6_wheel"], "postgres_driver": postgres}
    if not args.no_archive:
        path = archive(bundle, version)
        report["archive"] = path.name
        report["archive_mb"] = round(path.stat().st_size / 1e6, 1)
    if args.deb:
        sys.path.insert(0, str(ROOT / "packaging"))
        deb = build_deb(bundle, version)
        report["deb"] = deb.name
        report["deb_mb"] = round(deb.stat().st_size / 1e6, 1)
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    (BUILD / "bundle-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    if size > SIZE_LIMIT_MB * 1e6:
        raise SystemExit(f"the bundle is {size / 1e6:.0f} MB unpacked, over the {SIZE_LIMIT_MB} MB limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
