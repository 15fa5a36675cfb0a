"""The rules-cache fingerprint follows the rules in a source checkout and in a frozen bundle:
the build computes it from the sources it freezes and stamps it into the bundle; the frozen
program reads the stamp (it has no sources to digest)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from poems_monitor import shipped
from poems_monitor.domain import flags as flags_module
from poems_monitor.services import rules_cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_caches():
    rules_cache.rules_version.cache_clear()
    shipped.build_stamp.cache_clear()
    yield
    rules_cache.rules_version.cache_clear()
    shipped.build_stamp.cache_clear()


@pytest.fixture
def edited_rule(tmp_path, monkeypatch):
    """A copy of the flag rules' source that the test can change, standing in for the real file."""
    copy = tmp_path / "flags.py"
    shutil.copy2(flags_module.__file__, copy)
    monkeypatch.setattr(flags_module, "__file__", str(copy))
    return copy


def _build_script():
    spec = importlib.util.spec_from_file_location("poems_build_script", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _freeze(monkeypatch, tmp_path, stamp: dict | None) -> None:
    """Run as a bundle would: sys.frozen set, the package's resources folder holding the stamp."""
    resources = tmp_path / "bundle-resources"
    resources.mkdir(exist_ok=True)
    if stamp is not None:
        (resources / shipped.STAMP_NAME).write_text(json.dumps(stamp), encoding="utf-8")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(shipped, "PACKAGE_RESOURCES", resources)


def test_source_fingerprint_changes_when_a_rule_changes(edited_rule):
    before = rules_cache.rules_version()
    edited_rule.write_text(edited_rule.read_text(encoding="utf-8") + "\n# a new threshold\n", encoding="utf-8")
    rules_cache.rules_version.cache_clear()
    assert rules_cache.rules_version() != before


def test_build_stamps_the_fingerprint_of_the_sources_it_freezes(edited_rule):
    build = _build_script()
    stamped = build.build_stamp("9.9.9")
    assert stamped["rules_fingerprint"] == rules_cache.rules_version()
    assert stamped["version"] == "9.9.9"
    edited_rule.write_text(edited_rule.read_text(encoding="utf-8") + "\n# a new threshold\n", encoding="utf-8")
    assert build.build_stamp("9.9.9")["rules_fingerprint"] != stamped["rules_fingerprint"]


def test_frozen_build_uses_the_stamped_fingerprint(monkeypatch, tmp_path):
    _freeze(monkeypatch, tmp_path, {"version": "0.1.0", "rules_fingerprint": "a" * 32})
    assert rules_cache.rules_version() == "a" * 32
    # the next build of the same version froze changed rules: its stamp differs, so does the fingerprint
    _freeze(monkeypatch, tmp_path, {"version": "0.1.0", "rules_fingerprint": "b" * 32})
    shipped.build_stamp.cache_clear()
    rules_cache.rules_version.cache_clear()
    assert rules_cache.rules_version() == "b" * 32


def test_a_source_checkout_ignores_a_stray_stamp(monkeypatch, tmp_path):
    """A stamp left in the package folder (a bundle's files copied into a checkout) must not hide
    the checkout's own edits: only a frozen program trusts it."""
    from_sources = rules_cache.rules_version()
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / shipped.STAMP_NAME).write_text(json.dumps({"rules_fingerprint": "c" * 32}), encoding="utf-8")
    monkeypatch.setattr(shipped, "PACKAGE_RESOURCES", resources)
    rules_cache.rules_version.cache_clear()
    assert rules_cache.rules_version() == from_sources


def test_frozen_build_without_stamp_still_answers(monkeypatch, tmp_path):
    """An old-style bundle (no stamp, no sources) falls back to the package version: a fingerprint
    all the same, never a crash."""
    _freeze(monkeypatch, tmp_path, None)
    monkeypatch.setattr(flags_module, "__file__", str(tmp_path / "missing.py"))
    value = rules_cache.rules_version()
    assert len(value) == 32 and int(value, 16) >= 0


def test_version_option_prints_version_and_fingerprint(capsys):
    from poems_monitor.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"poems-monitor {shipped.version()}"
    assert f"rules fingerprint: {rules_cache.rules_version()}" in out


def test_version_in_a_bundle_names_its_build(monkeypatch, tmp_path, capsys):
    from poems_monitor.cli import main

    _freeze(monkeypatch, tmp_path, {"version": "7.7.7", "rules_fingerprint": "d" * 32, "built_at": "2026-12-02T00:00:00Z",
                                    "commit": "abc123", "glibc": "2.36"})
    with pytest.raises(SystemExit):
        main(["--version"])
    out = capsys.readouterr().out
    assert "poems-monitor 7.7.7" in out and "d" * 32 in out and "abc123" in out and "glibc 2.36" in out
