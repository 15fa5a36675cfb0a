"""The licences of the third-party distributions poems-monitor runs on (About › Third-party
licences, and THIRD-PARTY-LICENSES.txt in a bundle).

The list is the closure of poems-monitor's own requirements as installed (importlib.metadata),
so it names what a bundle built from this environment carries; each entry gives the name,
version, declared licence and the licence files the distribution ships. No Qt here: the build
script writes the same text into the bundle.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LICENCE_FILE = re.compile(r"(^|/)(licen[cs]e|copying|notice|authors)[^/]*$", re.IGNORECASE)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: Distribution, extras: set[str]) -> list[str]:
    """Names of what `dist` requires: unconditional ones, and those of the extras asked for.
    Markers other than extras (platform, Python version) are taken as met: listing one licence
    too many is harmless, leaving one out is not."""
    names = []
    for line in dist.requires or ():
        requirement, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if extra and extra.group(1) not in extras:
            continue
        match = _NAME.match(requirement)
        if match:
            names.append(match.group(1))
    return names


def _checkout_requirements(extras: set[str]) -> list[str]:
    """From a source checkout, pyproject.toml is the truth (an editable install's metadata can be
    older than the file); a bundle or a wheel install has none and relies on the metadata."""
    pyproject = Path(__file__).parent.parent / "pyproject.toml"
    try:
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, ValueError):
        return []
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [m.group(1) for m in map(_NAME.match, lines) if m]


def bundled_distributions(extras: set[str] = frozenset()) -> list[Distribution]:  # type: ignore[assignment]
    """Every installed distribution poems-monitor needs, itself excluded, sorted by name."""
    try:
        root = distribution("poems-monitor")
    except PackageNotFoundError:
        return []
    found: dict[str, Distribution] = {}
    todo = [(name, set()) for name in _requirements(root, set(extras)) + _checkout_requirements(set(extras))]
    while todo:
        name, _ = todo.pop()
        key = _normal(name)
        if key in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:  # an optional dependency not installed: not bundled either
            continue
        found[key] = dist
        todo.extend((child, set()) for child in _requirements(dist, set()))
    return sorted(found.values(), key=lambda d: _normal(d.metadata["Name"]))


def _declared_licence(dist: Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 120:
        return text
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or () if c.startswith("License ::")]
    return ", ".join(classifiers) or (text.splitlines()[0] if text else "see the licence text below")


def _licence_files(dist: Distribution) -> list[tuple[str, str]]:
    texts = []
    for file in dist.files or ():
        if _LICENCE_FILE.search(str(file)) and ".dist-info" in str(file) or str(file).startswith(
                ("LICENSE", "LICENCE", "COPYING")):
            try:
                texts.append((Path(str(file)).name, Path(file.locate()).read_bytes().decode("utf-8", "replace")))
            except OSError:
                continue
    return texts


def _python_licence() -> str:
    for path in (Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt",
                 Path(sys.base_prefix) / "LICENSE.txt"):
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return "Python Software Foundation License Version 2: https://docs.python.org/3/license.html\n"


def licences_text(extras: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """Every bundled distribution's name, version, licence and licence files, as one text."""
    rule = "=" * 78
    parts = ["Third-party software in poems-monitor", "",
             "poems-monitor itself is free software under the GNU General Public License, version 3 or later.",
             "It runs on the following software, each under its own licence:", ""]
    dists = bundled_distributions(extras)
    parts += [f"- {d.metadata['Name']} {d.version}: {_declared_licence(d)}" for d in dists]
    parts += [f"- Python {sys.version.split()[0]}: Python Software Foundation License", ""]
    for d in dists:
        parts += [rule, f"{d.metadata['Name']} {d.version}", f"Licence: {_declared_licence(d)}", rule]
        files = _licence_files(d)
        if not files:
            parts.append("(The distribution ships no licence file; its declared licence is named above.)")
        for name, text in files:
            parts += [f"--- {name} ---", text.rstrip(), ""]
        parts.append("")
    parts += [rule, f"Python {sys.version.split()[0]}", rule, _python_licence().rstrip(), ""]
    return "\n".join(parts)
