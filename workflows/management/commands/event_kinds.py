"""List every declared order event kind: `manage.py event_kinds [--markdown]`.

The list comes from the registry (workflows.events.declare, called by each app's `events.py` when the app
loads), so it is never written by hand. `--markdown` prints docs/events.md; a test fails when that file
differs from what this command prints (regenerate it with
`.venv/bin/python manage.py event_kinds --markdown > docs/events.md`).
"""

from itertools import groupby

from django.core.management.base import BaseCommand

from workflows.events import EventKind, declared_kinds

MARKDOWN_HEAD = """\
# Order event kinds

<!-- Generated from the registry of declared kinds: do not edit by hand. Regenerate with
     .venv/bin/python manage.py event_kinds --markdown > docs/events.md
     (tests/workflows/test_event_kinds_doc.py fails while this file is out of date). -->

Every change to an order is recorded as one event of a declared kind (`workflows/events.py`,
[architecture](architecture.md#event-kinds)). The app that records a kind declares it in its own
`events.py`, with a one-line meaning and the keys its payload may carry, next to the small constructors
its services call. Webhook subscribers filter on these names (`stage.approve`, `payment.*`).

Every event also carries, outside its payload: the order, `seq`, the stage (when it is about one), the
trigger and the states before and after (engine transitions), the actor and their role (`system` for the
service itself), the time and the hash chain (`prev_hash`, `hash`).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _group(kind: EventKind) -> str:
    return kind.name.partition(".")[0]


def markdown(kinds: dict[str, EventKind]) -> str:
    ordered = sorted(kinds.values(), key=lambda k: k.name)
    lines = [MARKDOWN_HEAD, f"{len(ordered)} kinds.", ""]
    for group, members in groupby(ordered, key=_group):
        lines += [f"## `{group}.*`", "", "| kind | meaning | payload keys |", "| --- | --- | --- |"]
        for kind in members:
            keys = ", ".join(f"`{key}`" for key in kind.payload) or "-"
            lines.append(f"| `{kind.name}` | {_cell(kind.meaning)} | {keys} |")
        lines.append("")
    return "\n".join(lines)


def plain(kinds: dict[str, EventKind]) -> str:
    rows = []
    for kind in sorted(kinds.values(), key=lambda k: k.name):
        rows.append(f"{kind.name}\n    {kind.meaning}\n    payload: {', '.join(kind.payload) or '-'}")
    return "\n".join(rows) + "\n"


class Command(BaseCommand):
    help = "List every declared order event kind with its meaning and payload keys (--markdown: docs/events.md)."

    def add_arguments(self, parser):
        parser.add_argument("--markdown", action="store_true", help="Print docs/events.md.")

    def handle(self, *args, **options):
        kinds = declared_kinds()
        self.stdout.write(markdown(kinds) if options["markdown"] else plain(kinds), ending="")
