"""One translation system: the catalogues compile and keep their placeholders, the command line
speaks French and Japanese, every CLI string is translated, and the language is chosen from the
setting, the environment or the system (issue 15)."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo

from poems_monitor import i18n

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "translations"
translations = runpy.run_path(str(SCRIPT))  # the script's functions (read, placeholder_errors, coverage)
SHIPPED = ("fr", "ja")


@pytest.fixture(autouse=True)
def back_to_english():
    yield
    i18n.set_language("en")


def run_cli(*args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    clean.update(env, PYTHONPATH=str(ROOT), POEMS_MONITOR_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args], capture_output=True, text=True,
                          env=clean, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("language", SHIPPED)
def test_catalogue_compiles_and_keeps_every_placeholder(language):
    catalog = translations["read"](ROOT / "resources" / "translations" / f"{language}.po", language)
    write_mo(io.BytesIO(), catalog)
    assert translations["placeholder_errors"](catalog) == []
    assert catalog.num_plurals == {"fr": 2, "ja": 1}[language]


def test_a_changed_placeholder_is_caught():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="fr")
    catalog.add("{n} flags as of {date}.", "{n} alertes au {jour}.")
    errors = translations["placeholder_errors"](catalog)
    assert errors and all("{n} alertes au {jour}." in e for e in errors)


def test_template_and_catalogues_are_current():
    """A new tr() string not extracted into the template (and merged into fr.po/ja.po) fails."""
    done = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "fr cli: " in done.stdout and "ja all: " in done.stdout


@pytest.mark.parametrize("language", SHIPPED)
def test_every_command_line_string_is_translated(language):
    """Every message of poems_monitor/cli/ (help of every command and option, outputs, errors) and
    argparse's own words: a new untranslated CLI string fails here."""
    assert translations["untranslated_cli"](language) == []
    done, total = translations["coverage"](language)["cli"]
    assert total > 150 and done == total


def test_french_help(tmp_path):
    shown = run_cli("--help", env={"LANGUAGE": "fr"}, home=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.startswith("utilisation : poems-monitor")
    assert "arguments positionnels" in shown.stdout
    assert "ouvrir l'application de bureau" in shown.stdout
    assert "afficher ce message d'aide et quitter" in shown.stdout
    assert "open the desktop app" not in shown.stdout


def test_japanese_help_of_a_command_and_its_error(tmp_path):
    shown = run_cli("flags", "--help", env={"LANGUAGE": "ja"}, home=tmp_path)
    assert shown.stdout.startswith("使い方: poems-monitor flags")
    assert "オプション:" in shown.stdout
    assert "すべての臨床フラグを表示する" not in shown.stdout  # the command's own help is on the parent's list
    assert "医師がまだ確認していないフラグのみ" in shown.stdout
    wrong = run_cli("flags", "--bogus", env={"LANG": "ja_JP.UTF-8"}, home=tmp_path)
    assert wrong.returncode == 2
    assert "エラー: 認識できない引数：--bogus" in wrong.stderr


def _store_language(config: Path, language: str) -> None:
    """What the Settings dialog saves (services.preferences), written as it writes it."""
    config.mkdir(exist_ok=True)
    (config / "preferences.toml").write_text(f'theme = "system"\nlanguage = "{language}"\n', encoding="utf-8")


def test_the_stored_setting_wins_over_the_environment(tmp_path):
    _store_language(tmp_path / "config", "ja")
    assert i18n.language_setting(tmp_path / "config") == "ja"
    shown = run_cli("--help", env={"LANGUAGE": "fr", "LANG": "fr_FR.UTF-8"}, home=tmp_path)
    assert shown.stdout.startswith("使い方: ")
    _store_language(tmp_path / "config", "en")
    assert run_cli("--help", env={"LANGUAGE": "fr"}, home=tmp_path).stdout.startswith("usage: ")
    _store_language(tmp_path / "config", "system")
    assert i18n.language_setting(tmp_path / "config") == "system"
    assert run_cli("--help", env={"LANGUAGE": "fr"}, home=tmp_path).stdout.startswith("utilisation : ")


def test_the_settings_dialogs_choice_is_the_language_the_translations_read():
    from poems_monitor.services.preferences import Preferences, save_preferences

    save_preferences(Preferences(language="fr"))  # the test's own home (tests/conftest.py)
    assert i18n.language_setting() == "fr"


def test_a_missing_or_unknown_setting_means_system(tmp_path):
    assert i18n.language_setting(tmp_path) == "system"
    (tmp_path / "preferences.toml").write_text('language = "tlh"\n', encoding="utf-8")
    assert i18n.language_setting(tmp_path) == "system"
    (tmp_path / "preferences.toml").write_text('language = [1, 2\n', encoding="utf-8")
    assert i18n.language_setting(tmp_path) == "system"


def test_the_environment_is_read_as_gettext_reads_it():
    assert i18n.language_from_environment({"LANGUAGE": "de:ja", "LANG": "fr_FR.UTF-8"}) == "ja"
    assert i18n.language_from_environment({"LC_ALL": "fr_CA.UTF-8", "LANG": "ja_JP.UTF-8"}) == "fr"
    assert i18n.language_from_environment({"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}) == "en"
    assert i18n.language_from_environment({"LANG": "de_DE.UTF-8"}) == "en"
    assert i18n.language_from_environment({}) is None


def test_without_setting_or_environment_the_system_languages_decide():
    """Windows and macOS set no variables: the app passes QLocale.system().uiLanguages()."""
    assert i18n.choose_language("system", {}, ["de-DE", "ja-JP", "en-US"]) == "ja"
    assert i18n.choose_language("system", {}, ["de-DE"]) == "en"
    assert i18n.choose_language("system", {"LANG": "fr_FR.UTF-8"}, ["ja-JP"]) == "fr"
    assert i18n.choose_language("ja", {"LANG": "fr_FR.UTF-8"}, ["fr-FR"]) == "ja"


def test_real_plurals():
    i18n.set_language("fr")
    assert i18n.counted(0, "{n} real patient", "{n} real patients") == "0 vrai patient"
    assert i18n.counted(1, "{n} real patient", "{n} real patients") == "1 vrai patient"
    assert i18n.counted(2, "{n} real patient", "{n} real patients") == "2 vrais patients"
    i18n.set_language("ja")
    assert i18n.counted(5, "{n} real patient", "{n} real patients") == "実在の患者5人"


def test_qt_tr_and_qt_own_dialogs_speak_the_catalogue_language(qapp):
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QDialogButtonBox

    from poems_monitor.ui.qt_translation import install_translators

    translators = []
    try:
        assert install_translators(qapp, "fr") == "fr"
        translators = list(qapp._poems_translators)
        assert QCoreApplication.translate("FlagsView", "Severity") == "Gravité"  # a self.tr() string
        assert QCoreApplication.translate("FlagsView", "not in any catalogue") == "not in any catalogue"
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        assert box.buttons()[0].text() == "Annuler"  # Qt's own qtbase_fr.qm
    finally:
        for translator in translators:
            qapp.removeTranslator(translator)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_qt_own_words_are_left_to_qt_and_keep_the_modifier_keys(qapp, language):
    """Qt's own contexts (QShortcut's "Ctrl", QProgressBar's "%p%") are not the project's text:
    the catalogue translator gives no answer, so a menu still shows "Ctrl+N", never "N"."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QKeySequence

    from poems_monitor.ui.qt_translation import install_translators

    translators = []
    try:
        install_translators(qapp, language)
        translators = list(qapp._poems_translators)
        assert QKeySequence("Ctrl+N").toString(QKeySequence.SequenceFormat.NativeText) == "Ctrl+N"
        assert QCoreApplication.translate("QProgressBar", "%p%") == "%p%"
    finally:
        for translator in translators:
            qapp.removeTranslator(translator)
        install_translators(qapp, "en")
        for translator in list(qapp._poems_translators):
            qapp.removeTranslator(translator)


@pytest.mark.parametrize("language", SHIPPED)
def test_every_extracted_message_is_translated(language):
    """Every tr()/self.tr()/ntr()/counted() string and catalogue word has a translation: a new
    visible string fails here until fr.po and ja.po translate it (scripts/translations update)."""
    done, total = translations["coverage"](language)["all"]
    assert total > 1500 and done == total, f"{total - done} messages of {language}.po are not translated"


def test_cached_rule_results_are_never_served_in_another_language(tmp_path):
    """The rules cache stores flag and worklist text: a French run must not leave French text for
    the next Japanese or English run, nor make `check` call the cache damaged."""
    db = str(tmp_path / "clinic.sqlite")
    assert run_cli("--db", db, "demo", "--patients", "3", env={}, home=tmp_path).returncode == 0
    french = run_cli("--db", db, "worklist", env={"LANGUAGE": "fr"}, home=tmp_path)
    assert "tous les 6 mois" in french.stdout
    japanese = run_cli("--db", db, "worklist", env={"LANGUAGE": "ja"}, home=tmp_path)
    assert "6か月ごと" in japanese.stdout and "tous les" not in japanese.stdout
    english = run_cli("--db", db, "worklist", env={}, home=tmp_path)
    assert "every 6 months" in english.stdout and "か月" not in english.stdout
    checked = run_cli("--db", db, "check", env={"LANGUAGE": "ja"}, home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_bundle_reads_the_compiled_catalogue_without_the_sources(tmp_path, monkeypatch):
    """The bundle carries only poems_monitor/resources/locale/<lang>/LC_MESSAGES/poems_monitor.mo."""
    catalog = translations["read"](ROOT / "resources" / "translations" / "fr.po", "fr")
    target = tmp_path / "locale" / "fr" / "LC_MESSAGES" / "poems_monitor.mo"
    target.parent.mkdir(parents=True)
    with target.open("wb") as fp:
        write_mo(fp, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(i18n, "SOURCE_DIR", tmp_path / "no-sources")
    i18n.set_language("fr")
    assert i18n.tr("Clinic worklist") == "Liste de travail de la clinique"
    assert i18n.counted(3, "{n} waiver.", "{n} waivers.") == "3 dispenses."
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "nothing")
    i18n.set_language("fr")
    assert i18n.tr("Clinic worklist") == "Clinic worklist"  # no catalogue at all: the English source
