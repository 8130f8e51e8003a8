"""`manage.py translations [extract|compile|check]`: the catalogues without GNU gettext (core/catalogues.py).

- extract (the default): add every new translatable string of the code and templates to its app's catalogues,
  drop the ones no longer used, then compile. Translate what it reports as untranslated in `zh_Hans`.
- compile: write the `.mo` files Django reads (scripts/bootstrap.sh runs it).
- check: list what is missing (untranslated, not extracted, a placeholder that differs); exits 1 if anything is.
"""

from django.core.management.base import BaseCommand, CommandError

from core import catalogues


class Command(BaseCommand):
    help = "Extract, compile or check the translation catalogues (Babel; no GNU gettext needed)."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", default="extract", choices=["extract", "compile", "check"])
        parser.add_argument("--app", action="append", default=[], help="Only this app's catalogue (repeatable).")

    def handle(self, *args, action: str, app: list[str], **options):
        selected = [u for u in catalogues.units() if not app or u.name in app]
        if app and len(selected) != len(set(app)):
            raise CommandError(f"Unknown app among {app}; known: {[u.name for u in catalogues.units()]}")
        if action == "extract":
            for unit in selected:
                for language, counts in catalogues.update(unit).items():
                    untranslated = counts["untranslated"] if language != catalogues.SOURCE_LANGUAGE else 0
                    note = f", {untranslated} to translate" if untranslated else ""
                    self.stdout.write(f"{catalogues.shown(unit.po_path(language))}: "
                                      f"{counts['messages']} messages{note}")
        if action in ("extract", "compile"):
            written = catalogues.compile_all()
            self.stdout.write(f"compiled {len(written)} changed catalogue(s) of {len(catalogues.po_files())}")
        if action == "check":
            catalogues.compile_all()
            catalogues.reset_loaded_translations()
            found = catalogues.problems(selected)
            for line in found:
                self.stdout.write(line)
            if found:
                raise CommandError(f"{len(found)} problem(s) in the translation catalogues")
            self.stdout.write("the catalogues are complete")
