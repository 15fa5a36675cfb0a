"""Settings declared once (issue 12 item 6): every key the app keeps in `ui.ini` or reads from
`session.toml` is in `settings_catalog`, no screen spells a key of its own, and a value saved
under a key by an earlier version still loads."""

from __future__ import annotations

import re
from pathlib import Path

from poems_monitor.settings_catalog import (
    FEATURES_NEWEST_FIRST, IDLE_LOCK_MINUTES, LAST_SAVE_FOLDER, SETTINGS, SIGN_IN_ATTEMPTS, WINDOW_GEOMETRY,
)
from poems_monitor.ui.idle_lock import idle_lock_minutes
from poems_monitor.ui.ui_settings import read, save_folder, settings, write

PACKAGE = Path(__file__).resolve().parents[2] / "poems_monitor"


def test_no_module_spells_a_settings_key_of_its_own() -> None:
    literal_key = re.compile(r"""\.(value|setValue)\(\s*["']""")
    spelled = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in sorted((PACKAGE / "ui").rglob("*.py"))
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if literal_key.search(line)]
    assert not spelled, spelled
    keys = [(s.file, s.key) for s in SETTINGS]
    assert len(keys) == len(set(keys))


def test_values_saved_under_the_old_keys_still_load(tmp_path: Path, qapp) -> None:  # noqa: ANN001
    old = settings()  # written as the version before the catalogue wrote them
    old.setValue("features/newest_first", True)
    old.setValue("files/last_save_folder", str(tmp_path))
    old.setValue("main/geometry", b"\x01\xd9\xd0\xcb")
    old.sync()
    assert read(FEATURES_NEWEST_FIRST) is True
    assert save_folder() == tmp_path and read(LAST_SAVE_FOLDER) == str(tmp_path)
    assert bytes(read(WINDOW_GEOMETRY)) == b"\x01\xd9\xd0\xcb"
    write(FEATURES_NEWEST_FIRST, False)
    assert settings().value("features/newest_first", type=bool) is False


def test_unsaved_settings_give_their_declared_defaults(qapp) -> None:  # noqa: ANN001
    assert read(FEATURES_NEWEST_FIRST) is False and read(WINDOW_GEOMETRY) is None
    assert idle_lock_minutes() == IDLE_LOCK_MINUTES.default == 10
    written = (Path(settings().fileName()).parent / IDLE_LOCK_MINUTES.file).read_text(encoding="utf-8")
    assert f"{IDLE_LOCK_MINUTES.key} = 10" in written and f"{SIGN_IN_ATTEMPTS.key} = {SIGN_IN_ATTEMPTS.default}" in written
