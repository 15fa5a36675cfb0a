"""The desktop app speaks the language of the gettext catalogue: Qt's `self.tr()` asks it too.

Owns the translators installed on the QApplication: Qt's own `qtbase_<lang>.qm` (the words of
Qt's built-in dialogs: file dialogs, message box buttons) and a translator that answers every
other `self.tr()` from the project's catalogue (`poems_monitor.i18n`), so each string is
translated once, in `resources/translations/<lang>.po`, whichever layer shows it.
"""

from __future__ import annotations

from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator
from PySide6.QtWidgets import QApplication

from poems_monitor import i18n


def _is_qt_own(context: str) -> bool:
    """Qt's own widgets translate in contexts named after their class (QProgressBar's "%p%",
    QDialogButtonBox's "Cancel"); the project's classes never start with "Q" and a capital."""
    return len(context) > 1 and context[0] == "Q" and context[1].isupper()


class CatalogueTranslator(QTranslator):
    """Qt's `tr(source, disambiguation, n)` answered by gettext; `%n` becomes the count."""

    def translate(self, context: str, source_text: str, disambiguation: str | None = None,  # noqa: N802 (Qt API)
                  n: int = -1) -> str:
        if not source_text or _is_qt_own(context):
            # No answer (a null string: an empty one would be taken as the translation and turn
            # "Ctrl+N" into "N"): Qt asks the next translator (qtbase_<lang>.qm), then keeps the source.
            return None  # type: ignore[return-value]
        text = i18n.tr(source_text)
        return text.replace("%n", str(n)) if n is not None and n >= 0 else text

    def isEmpty(self) -> bool:  # noqa: N802 (Qt API)
        return False


def install_translators(app: QApplication, language: str | None = None) -> str:
    """Chooses the language (setting, environment, then the system's UI languages), makes `tr()`
    answer in it, and installs the translators on `app`. Returns the language chosen."""
    if language is None:
        language = i18n.choose_language(i18n.language_setting(), None, QLocale.system().uiLanguages())
    language = i18n.set_language(language)
    QLocale.setDefault(QLocale(language))
    # Qt asks the translator installed last first: ours goes first so that Qt's own catalogue
    # answers for Qt's contexts and ours (which always answers) for everything else.
    translators = [CatalogueTranslator(app)]
    if language != i18n.SOURCE_LANGUAGE:
        qt_own = QTranslator(app)
        if qt_own.load(f"qtbase_{language}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
            translators.append(qt_own)
    for translator in translators:
        app.installTranslator(translator)
    app._poems_translators = translators  # keep the Python objects alive as long as the app
    return language
