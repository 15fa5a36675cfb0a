"""User-visible text goes through `tr()`: one gettext catalogue for every layer.

Owns the choice of language and the catalogue read for it. The Qt-free layers call `tr()`,
`ntr()`, `counted()` and `and_list()`/`or_list()` (a list joined as the language's sentences join
it, from Babel's CLDR data: "A, B et C", "A、B、C"); dates and decimals: `local_format`; the desktop app routes Qt's own `self.tr()` to the same catalogue
(`ui/qt_translation.py` installs a translator that asks `tr()`), so a string is translated once,
in `resources/translations/<lang>.po`, whichever layer shows it. argparse's own words ("usage:",
"options") go through the catalogue too (`translate_argparse`).

The language, first that applies: the Settings dialog's choice, `language` in the workstation's
`preferences.toml` ("system" or a code), the environment (`LANGUAGE`, `LC_ALL`, `LC_MESSAGES`, `LANG`, as gettext reads them), and
in the desktop app the system's UI languages from Qt (Windows and macOS set no variables).
English, the source language, when none of them names a language we ship.

Compiled catalogues live in `poems_monitor/resources/locale/<lang>/LC_MESSAGES/poems_monitor.mo`
(`scripts/translations compile`, run by the bootstrap and the bundle build). A source checkout
without them, or whose `.po` is newer, still speaks the language: the `.po` is compiled in memory.
"""

from __future__ import annotations

import gettext
import io
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

DOMAIN = "poems_monitor"
SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "fr", "ja")  # the languages we ship; "en" is the source text itself

LOCALE_DIR = Path(__file__).parent / "resources" / "locale"
SOURCE_DIR = Path(__file__).parent.parent / "resources" / "translations"  # only in a source checkout

_ENVIRONMENT_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = SOURCE_LANGUAGE


def tr(text: str) -> str:
    return _translation.gettext(text)


def N_(text: str) -> str:  # noqa: N802 (gettext's conventional name for "mark only")
    """Marks a string for extraction without translating it now (translated where it is shown)."""
    return text


def ntr(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for a count `n` ("1 patient", "2 patients"), as gettext chooses
    it for the language; the caller formats `{n}` into it."""
    return _translation.ngettext(singular, plural, n)


def counted(n: int, singular: str, plural: str) -> str:
    """`n` with the right form of its noun: counted(1, "{n} patient", "{n} patients") -> "1 patient"."""
    return ntr(singular, plural, n).format(n=n)


def current_language() -> str:
    return _language


def and_list(items: Iterable[str]) -> str:
    """Items joined as a sentence joins them: "A and B", "A, B et C" (French), "A、B、C" (Japanese)."""
    return _joined(items, "standard")


def or_list(items: Iterable[str]) -> str:
    """Alternatives: "A or B", "A ou B", "AまたはB"."""
    return _joined(items, "or")


def _joined(items: Iterable[str], style: str) -> str:
    parts = [item for item in items if item]
    if len(parts) < 2:
        return "".join(parts)
    from babel.lists import format_list

    return format_list(parts, style=style, locale=_language)


# ---------------------------------------------------------------------------------- the choice


def _shipped(code: str | None) -> str | None:
    """The shipped language a locale name means ("fr_CA.UTF-8" -> "fr", "ja-JP" -> "ja"), if any."""
    if not code:
        return None
    base = code.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    if base in ("c", "posix"):
        return SOURCE_LANGUAGE
    return base if base in LANGUAGES else None


def language_setting(config_dir: Path | None = None) -> str:
    """The stored choice, `language` in the workstation's `preferences.toml` (the Settings dialog
    writes it through `services.preferences`; read here without Qt so the command line honours
    it too): "system" when absent, unreadable or not a language we ship."""
    if config_dir is None:
        from poems_monitor.config import app_paths

        config_dir = app_paths().config
    from poems_monitor.settings_catalog import PREFERENCES_FILE

    try:
        stored = tomllib.loads((config_dir / PREFERENCES_FILE).read_text(encoding="utf-8")).get("language")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return "system"
    value = stored.strip().lower() if isinstance(stored, str) else "system"
    return value if value in LANGUAGES else "system"


def language_from_environment(environ: dict[str, str] | None = None) -> str | None:
    """The first shipped language the environment names, read as gettext does: the first of
    LANGUAGE (a colon-separated list), LC_ALL, LC_MESSAGES, LANG that is set decides."""
    env = os.environ if environ is None else environ
    for variable in _ENVIRONMENT_VARIABLES:
        value = env.get(variable)
        if not value:
            continue
        for code in value.split(":"):
            shipped = _shipped(code)
            if shipped:
                return shipped
        if variable != "LANGUAGE":  # LANGUAGE lists preferences; the others are one locale that decides
            return SOURCE_LANGUAGE
    return None


def choose_language(setting: str = "system", environ: dict[str, str] | None = None,
                    system_languages: Iterable[str] = ()) -> str:
    """The language to show: the setting, else the environment, else the system's UI languages
    (`QLocale.system().uiLanguages()` in the app), else English."""
    if setting in LANGUAGES:
        return setting
    from_env = language_from_environment(environ)
    if from_env:
        return from_env
    for code in system_languages:
        shipped = _shipped(code)
        if shipped:
            return shipped
    return SOURCE_LANGUAGE


# ---------------------------------------------------------------------------------- the catalogue


def _load(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    compiled = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    source = SOURCE_DIR / f"{language}.po"
    stale = source.is_file() and compiled.is_file() and source.stat().st_mtime > compiled.stat().st_mtime
    if source.is_file() and (stale or not compiled.is_file()):  # a checkout before (or edited since) compiling
        try:
            return _compiled_in_memory(source, language)
        except ImportError:  # no Babel (a bundle leaves it out): the compiled catalogue, if any
            pass
    if compiled.is_file():
        with compiled.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    return gettext.NullTranslations()


def _compiled_in_memory(source: Path, language: str) -> gettext.GNUTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with source.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def set_language(language: str) -> str:
    """Makes `language` (one of LANGUAGES; anything else means English) the one `tr()` answers in."""
    global _translation, _language
    language = language if language in LANGUAGES else SOURCE_LANGUAGE
    _translation = _load(language)
    _language = language
    return language


def translate_argparse() -> None:
    """argparse's own words ("usage:", "options", its error sentences) through our catalogue:
    argparse looks its `_` and `ngettext` up at call time, so pointing them at ours suffices."""
    import argparse

    argparse._ = tr  # type: ignore[attr-defined]
    argparse.ngettext = ntr  # type: ignore[attr-defined]


# argparse's messages, marked here so the extraction puts them in our catalogue (Python 3.11's text).
_ARGPARSE_MESSAGES = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"), N_("expected one argument"),
    N_("expected at most one argument"), N_("expected at least one argument"),
    N_("not allowed with argument %s"), N_("one of the arguments %s is required"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("invalid %(type)s value: %(value)r"),
    N_("ignored explicit argument %r"), N_("can't open '%(filename)s': %(error)s"),
    N_("show program's version number and exit"),
)


def _argparse_plurals(n: int) -> str:  # never called: marks argparse's plural message for extraction
    return ntr("expected %s argument", "expected %s arguments", n)


set_language(choose_language(language_setting(), None))
