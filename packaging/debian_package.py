"""The .deb of the bundle, made with the system's own dpkg-deb (called by packaging/build.py --deb).

Layout: the bundle in /opt/poems-monitor, /usr/bin/poems-monitor a symlink to its program, the
desktop entry, AppStream metainfo and icons under /usr/share. Depends are worked out like
dpkg-shlibdeps would: every library the bundle's ELF files need and do not carry is looked up
with `dpkg -S`; fonts are added because Qt draws boxes without any.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

PACKAGE = "poems-monitor"
MAINTAINER = os.environ.get("POEMS_DEB_MAINTAINER", "poems-monitor maintainers <maintainers@poems-monitor.org>")
# Lintian tags that follow from what this package is on purpose (a self-contained program in
# /opt that carries its own Python, Qt and their libraries, not a Debian archive package).
LINTIAN_OVERRIDES = """\
# A self-contained bundle in /opt, with its own interpreter and libraries, on purpose
dir-or-file-in-opt
embedded-library
custom-library-search-path
unstripped-binary-or-object
shared-library-lacks-prerequisites
library-not-linked-against-libc
hardening-no-pie
# The bundle's Japanese font (the tar.gz must print Japanese on a machine without fonts-vlgothic;
# the .deb installs the same folder)
duplicate-font-file
# A local package, never uploaded to Debian
initial-upload-closes-no-bugs
no-manual-page
"""
# The PySide6 wheels are manylinux_2_34: nothing older than glibc 2.34 can run the bundle; the
# libraries copied from the build machine may ask for more (required_glibc).
WHEEL_GLIBC = (2, 34)
BASE_DEPENDS = ["fontconfig-config", "fonts-dejavu-core | fonts-liberation2"]


def _elf_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def system_depends(bundle: Path) -> list[str]:
    """Debian packages of the shared libraries the bundle needs but does not carry."""
    carried = {p.name for p in bundle.rglob("*.so*")}
    needed: set[str] = set()
    for elf in _elf_files(bundle):
        out = subprocess.run(["readelf", "-d", str(elf)], check=False, capture_output=True, text=True, timeout=60).stdout
        needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    missing = sorted(n for n in needed if n not in carried)
    packages: set[str] = set()
    for name in missing:
        result = subprocess.run(["dpkg", "-S", f"*/{name}"], check=False, capture_output=True, text=True, timeout=60)
        for line in result.stdout.splitlines():
            package = line.split(":", 1)[0].strip()
            if package and "," not in package:
                packages.add(package)
                break
    packages.discard("libc6")  # given with its version in BASE_DEPENDS
    return sorted(packages)


def required_glibc(bundle: Path) -> tuple[int, int]:
    """The newest GLIBC_x.y symbol version any ELF file of the bundle asks for."""
    newest = WHEEL_GLIBC
    for elf in _elf_files(bundle):
        out = subprocess.run(["objdump", "-T", str(elf)], check=False, capture_output=True, text=True, timeout=60).stdout
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", out):
            newest = max(newest, (int(major), int(minor)))
    return newest


def _copyright() -> str:
    return ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Upstream-Name: poems-monitor\n\n"
            "Files: *\nCopyright: 2026 poems-monitor authors\nLicense: GPL-3+\n"
            " On Debian systems the full text of the GNU General Public License version 3 is in\n"
            " /usr/share/common-licenses/GPL-3. The bundled third-party software and its\n"
            " licences are listed in /opt/poems-monitor/THIRD-PARTY-LICENSES.txt.\n")


def make_deb(bundle: Path, version: str, dist: Path, root: Path) -> Path:
    stage = root / "build" / "deb" / f"{PACKAGE}_{version}-1_amd64"
    shutil.rmtree(stage, ignore_errors=True)
    opt = stage / "opt" / PACKAGE
    shutil.copytree(bundle, opt, symlinks=True, ignore=shutil.ignore_patterns("share"))
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / PACKAGE).symlink_to(f"/opt/{PACKAGE}/{PACKAGE}")
    shutil.copytree(bundle / "share", stage / "usr" / "share")
    doc = stage / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(_copyright(), encoding="utf-8")
    stamp = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    changelog = f"{PACKAGE} ({version}-1) unstable; urgency=medium\n\n  * Bundle built by packaging/build.\n\n -- {MAINTAINER}  {stamp}\n"
    with gzip.GzipFile(doc / "changelog.Debian.gz", "wb", compresslevel=9, mtime=0) as f:
        f.write(changelog.encode())
    overrides = stage / "usr" / "share" / "lintian" / "overrides"
    overrides.mkdir(parents=True)
    (overrides / PACKAGE).write_text(LINTIAN_OVERRIDES, encoding="utf-8")
    for path in stage.rglob("*"):  # 0755 folders and programs, 0644 the rest (shared libraries too)
        if path.is_symlink():
            continue
        program = path.is_file() and path.stat().st_mode & 0o111 and ".so" not in path.name
        path.chmod(0o755 if path.is_dir() or program else 0o644)

    installed_kb = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    glibc = required_glibc(opt)
    depends = [f"libc6 (>= {glibc[0]}.{glibc[1]})"] + BASE_DEPENDS + system_depends(opt)
    control = stage / "DEBIAN"
    control.mkdir()
    (control / "control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}-1\nArchitecture: amd64\nMaintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kb}\nDepends: {', '.join(depends)}\nSection: science\nPriority: optional\n"
        f"Description: follow-up of patients with POEMS syndrome\n"
        f" Offline desktop tool with which specialist clinics follow patients\n"
        f" with POEMS syndrome for years: visits, trends, flags, overdue\n"
        f" follow-ups, worklist, audit trail, backups and exports.\n"
        f" Self-contained: it carries its own Python and Qt.\n",
        encoding="utf-8")
    deb = dist / f"{PACKAGE}_{version}-1_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(stage), str(deb)],
                   check=True, timeout=1800, capture_output=True)
    if shutil.which("lintian"):
        report = subprocess.run(["lintian", "--no-tag-display-limit", str(deb)], check=False, capture_output=True, text=True,
                                timeout=1800)
        (root / "build" / "lintian.txt").write_text(report.stdout + report.stderr, encoding="utf-8")
        counts = {kind: sum(1 for line in report.stdout.splitlines() if line.startswith(kind + ":"))
                  for kind in ("E", "W", "I")}
        print(f"lintian: {counts['E']} errors, {counts['W']} warnings, {counts['I']} notes (build/lintian.txt)")
    return deb
