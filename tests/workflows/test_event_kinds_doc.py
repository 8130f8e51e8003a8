"""docs/events.md is generated from the registry of declared event kinds (manage.py event_kinds --markdown):
these tests fail when the file no longer says what the registry declares."""

from io import StringIO

from django.conf import settings
from django.core.management import call_command

from workflows import events

DOC = settings.BASE_DIR / "docs" / "events.md"
REGENERATE = ".venv/bin/python manage.py event_kinds --markdown > docs/events.md"


def _markdown() -> str:
    out = StringIO()
    call_command("event_kinds", "--markdown", stdout=out)
    return out.getvalue()


def test_docs_events_md_matches_the_registry():
    assert DOC.read_text(encoding="utf-8") == _markdown(), f"docs/events.md is out of date: run `{REGENERATE}`"


def test_every_declared_kind_is_listed_with_its_meaning_and_payload():
    text = _markdown()
    declared = events.declared_kinds()
    assert "stage.approve" in declared and "voucher.redeemed" in declared  # the apps' kinds are loaded
    for kind in declared.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{kind.name}` |"))
        assert kind.meaning in row
        for key in kind.payload:
            assert f"`{key}`" in row


def test_a_newly_declared_kind_shows_up(monkeypatch):
    """The listing reads the registry, so a kind declared tomorrow is listed (and the doc test then fails until
    docs/events.md is regenerated)."""
    monkeypatch.setattr(events, "_declared", dict(events.declared_kinds()))
    events.declare("survey.answered", "The consumer answered the survey | its questions.", ("score", "comment"))
    text = _markdown()
    assert "## `survey.*`" in text
    assert "| `survey.answered` | The consumer answered the survey \\| its questions. | `score`, `comment` |" in text
    assert text != DOC.read_text(encoding="utf-8")

    plain = StringIO()
    call_command("event_kinds", stdout=plain)
    assert "survey.answered\n    The consumer answered the survey | its questions.\n    payload: score, comment\n" in (
        plain.getvalue())
