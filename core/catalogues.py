"""The translation catalogues: extract, update, compile and check them with Babel, in pure Python.

GNU gettext (Django's makemessages and compilemessages) is not needed anywhere: Babel's Python extractor reads the
code, and each template is first turned into Python by Django's own `templatize` (what makemessages does before
calling xgettext). `manage.py translations` runs these (docs/i18n.md); scripts/bootstrap.sh compiles.

One catalogue per app (`<app>/locale/<lang>/LC_MESSAGES/django.po`): the strings of the app's code and templates,
so a change to one app touches its own catalogue only. Strings outside the apps (config/) go to the project's
`locale/` (settings.LOCALE_PATHS). The compiled `.mo` files are build output (not in git): text files merge, and
a catalogue is never shipped older than its `.po`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

BASE_DIR = Path(__file__).resolve().parent.parent
# The catalogues' languages, as Babel and Django name their directories.
LANGUAGES = ("zh_Hans", "en")
SOURCE_LANGUAGE = "en"  # the source strings are English: its catalogue may leave a message untranslated
DOMAIN = "django"
PROJECT = "stagedservice"
# A fixed date in every header: a re-extraction that finds nothing new changes no file (and merges cleanly).
HEADER_DATE = datetime(2026, 1, 1)
TEMPLATE_SUFFIXES = {".html", ".txt"}
SKIPPED_DIRS = {"migrations", "__pycache__", "locale", "static"}
# Django's gettext family, as Babel's extractor spells their arguments.
KEYWORDS = {
    "_": None, "gettext": None, "gettext_lazy": None, "gettext_noop": None,
    "ngettext": (1, 2), "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2), "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "npgettext_lazy": ((1, "c"), 2, 3),
    # An order event kind's meaning (workflows.events.declare): the admin's timeline shows it in the reader's words.
    "declare": (2,),
}
COMMENT_TAGS = ("Translators:",)


@dataclass(frozen=True)
class Unit:
    """One catalogue: where its strings come from and where it lives."""

    name: str
    sources: tuple[Path, ...]
    locale_dir: Path
    served: bool = True  # Django loads it (an installed app's, or LOCALE_PATHS'): its wording is checked as served
    app_label: str = ""  # an installed app's: its models' derived names are its strings too (core.model_names)

    def po_path(self, language: str) -> Path:
        return self.locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def units() -> list[Unit]:
    """The project's own apps (installed apps whose code lives in this repository), and the project itself."""
    from django.apps import apps

    found = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(BASE_DIR) and ".venv" not in path.parts:
            found.append(Unit(config.label, (path,), path / "locale", app_label=config.label))
    found.append(Unit("project", (BASE_DIR / "config",), BASE_DIR / "locale"))
    return found


def shown(path: Path) -> str:
    """A path as the catalogues and reports name it: relative to the repository."""
    return path.relative_to(BASE_DIR).as_posix() if path.is_relative_to(BASE_DIR) else path.as_posix()


# --- extraction ------------------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        wanted = path.suffix == ".py" or (path.suffix in TEMPLATE_SUFFIXES and "templates" in path.parts)
        if wanted and path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(root).parts[:-1]):
            yield path


def _extract_file(path: Path):
    """(lineno, message, comments, context) of every translatable string of one file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        from django.utils.translation.template import templatize

        text = templatize(text, origin=str(path))
    yield from extract("python", io.BytesIO(text.encode("utf-8")), keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
                       options={"encoding": "utf-8"}, strip_comment_tags=True)


def extracted(unit: Unit) -> Catalog:
    """Every translatable string of the unit's code and templates, with where it is used."""
    template = Catalog(project=PROJECT, domain=DOMAIN, creation_date=HEADER_DATE, revision_date=HEADER_DATE,
                       fuzzy=False, charset="utf-8")
    for root in unit.sources:
        for path in _files(root):
            location = shown(path)
            for lineno, message, comments, context in _extract_file(path):
                if not (message[0] if isinstance(message, tuple) else message):
                    continue
                template.add(message, locations=[(location, lineno)], auto_comments=comments, context=context)
    if unit.app_label:
        from django.apps import apps

        from core.model_names import derived_names

        for name, where in derived_names(apps.get_app_config(unit.app_label)):
            template.add(name, locations=[(where, 0)],
                         auto_comments=["Translators: a model's or field's name, derived from its code"])
    return template


def read(path: Path, language: str) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


def update(unit: Unit) -> dict[str, dict[str, int]]:
    """Bring the unit's catalogues in line with its code: new strings added (untranslated), strings no longer
    used removed, translations kept. Returns {language: {"messages": n, "untranslated": n}}."""
    template = extracted(unit)
    report: dict[str, dict[str, int]] = {}
    for language in LANGUAGES:
        path = unit.po_path(language)
        if not len(template) and not path.exists():
            continue
        if path.exists():
            catalog = read(path, language)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project=PROJECT, fuzzy=False, charset="utf-8")
        # No fuzzy matching: a changed English sentence must be translated again, never shown half-right.
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        catalog.creation_date = catalog.revision_date = HEADER_DATE
        catalog.header_comment = f"# {unit.name}: {PROJECT}'s messages in {language} (docs/i18n.md)."
        catalog.fuzzy = False
        catalog.version, catalog.msgid_bugs_address = "1", ""
        catalog.last_translator = catalog.language_team = "see docs/i18n.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        write_po(buffer, catalog, width=0, sort_output=True, include_lineno=False, ignore_obsolete=True)
        # Which Babel wrote the file is no part of it (it would change with every upgrade).
        text = re.sub(rb'"Generated-By: [^"]*"\n', b"", buffer.getvalue())
        if not path.exists() or path.read_bytes() != text:
            path.write_bytes(text)
        report[language] = {"messages": len(catalog),
                            "untranslated": sum(1 for m in catalog if m.id and not _translated(m))}
    return report


# --- compiling -------------------------------------------------------------------------------------


def po_files() -> list[Path]:
    """Every catalogue of the repository (found on disk: compiling needs no Django settings)."""
    return sorted(p for p in BASE_DIR.glob(f"**/locale/*/LC_MESSAGES/{DOMAIN}.po") if ".venv" not in p.parts)


def compile_all() -> list[Path]:
    """Write each catalogue's `.mo` beside it. Returns the files written."""
    written = []
    for po in po_files():
        catalog = read(po, po.parent.parent.name)
        mo = po.with_suffix(".mo")
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        if not mo.exists() or mo.read_bytes() != buffer.getvalue():
            mo.write_bytes(buffer.getvalue())
            written.append(mo)
    return written


def reset_loaded_translations() -> None:
    """Make Django read the catalogues again (what its autoreloader does when a .mo changes)."""
    from django.utils.translation import reloader

    reloader.translation_file_changed(None, Path("compiled.mo"))


# --- checking --------------------------------------------------------------------------------------

# %(name)s-style and positional %s placeholders (not %%), and {name} placeholders of str.format.
PERCENT = re.compile(r"%(?:\((\w+)\))?[#0\- +]?\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
BRACES = re.compile(r"(?<!\{)\{(\w*)\}(?!\})")


def placeholders(text: str) -> tuple[tuple[str, ...], int]:
    """(sorted named placeholders, count of positional ones) of a message."""
    text = text.replace("%%", "")
    named, positional = [], 0
    for match in PERCENT.finditer(text):
        if match.group(1):
            named.append(match.group(1))
        else:
            positional += 1
    named += [f"{{{name}}}" for name in BRACES.findall(text) if name]
    return tuple(sorted(set(named))), positional


def _forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, list | tuple) else [message.string or ""]


def _translated(message: Message) -> bool:
    return not message.fuzzy and all(_forms(message))


def _key(message: Message):
    return (message.id, message.context)


def _label(message: Message) -> str:
    text = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{text!r}" + (f" (context {message.context!r})" if message.context else "")


def _placeholder_problems(message: Message) -> list[str]:
    if isinstance(message.id, tuple):
        singular, plural = placeholders(message.id[0]), placeholders(message.id[1])
        allowed = set(singular[0]) | set(plural[0])
        out = []
        for form in _forms(message):
            if not form:
                continue
            named, positional = placeholders(form)
            if not set(named) <= allowed or positional > max(singular[1], plural[1]):
                out.append(f"placeholders {named} differ from {tuple(sorted(allowed))}")
        return out
    expected = placeholders(message.id)
    return [f"placeholders {placeholders(form)} differ from {expected}"
            for form in _forms(message) if form and placeholders(form) != expected]


def problems(selected: list[Unit] | None = None) -> list[str]:
    """Everything wrong with the catalogues, one line each (empty when they are complete):
    a string of the code or templates missing from a catalogue, a catalogue string no longer used, a message
    without its Chinese translation, a placeholder that differs between the English and a translation, and one
    English string translated differently in two apps or in Django's or DRF's own catalogue (Django merges them:
    one would win silently). Reads the compiled catalogues too: compile first."""
    out: list[str] = []
    seen: dict[tuple, tuple[str, object]] = {}
    for unit in selected or units():
        template = extracted(unit)
        wanted = {_key(m): m for m in template if m.id}
        for language in LANGUAGES:
            path = unit.po_path(language)
            if not path.exists():
                if wanted:
                    out.append(f"{unit.name}/{language}: no catalogue at {shown(path)} "
                               f"for {len(wanted)} strings (run: manage.py translations)")
                continue
            catalog = read(path, language)
            have = {_key(m): m for m in catalog if m.id}
            where = shown(path)
            for key in wanted.keys() - have.keys():
                places = ", ".join(loc for loc, _ in wanted[key].locations)
                out.append(f"{where}: missing {_label(wanted[key])} from {places} (run: manage.py translations)")
            for key in have.keys() - wanted.keys():
                out.append(f"{where}: {_label(have[key])} is used nowhere any more (run: manage.py translations)")
            for key, message in have.items():
                if language != SOURCE_LANGUAGE and not _translated(message):
                    out.append(f"{where}: {_label(message)} has no {language} translation")
                out += [f"{where}: {_label(message)}: {p}" for p in _placeholder_problems(message)]
                if language != SOURCE_LANGUAGE and _translated(message):
                    first = seen.setdefault((language, key), (unit.name, message.string))
                    if first[1] != message.string:
                        out.append(f"{where}: {_label(message)} is translated {message.string!r} here and "
                                   f"{first[1]!r} in {first[0]}")
                    elif unit.served and (served := _served(message, language)) != _forms(message)[0]:
                        out.append(f"{where}: {_label(message)} is served as {served!r}, not {_forms(message)[0]!r}: "
                                   "an app before this one in INSTALLED_APPS (Django's, DRF's) translates it; use its "
                                   "wording")
    return out


def _served(message: Message, language: str) -> str:
    """What Django answers for the message in `language`, all catalogues merged (the compiled ones)."""
    from django.utils import translation

    singular = message.id[0] if isinstance(message.id, tuple) else message.id
    with translation.override(language.replace("_", "-").lower()):
        if isinstance(message.id, tuple):
            if message.context:
                return translation.npgettext(message.context, singular, message.id[1], 1)
            return translation.ngettext(singular, message.id[1], 1)
        return translation.pgettext(message.context, singular) if message.context else translation.gettext(singular)
