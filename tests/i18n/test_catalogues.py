"""The translation catalogues are complete, and the check that says so catches what it must: a new string in code
or a template that nobody extracted, a message without its Chinese, a placeholder that differs. All of it in pure
Python (Babel, and Django's templatize): no GNU gettext on the machine."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.utils import translation

from core import catalogues
from core.catalogues import Unit, placeholders, problems, update


def test_every_string_of_the_code_and_templates_is_in_its_catalogue_and_translated_to_chinese():
    found = problems()
    assert not found, (f"The catalogues are not complete ({len(found)} problems): run `manage.py translations`, "
                       "translate each msgid listed below in its app's zh_Hans catalogue (docs/i18n.md), and run "
                       "`manage.py translations check`.\n" + "\n".join(found[:200]))


def test_every_catalogue_is_compiled_and_django_serves_it():
    for po in catalogues.po_files():
        assert po.with_suffix(".mo").exists(), f"{po} is not compiled"
    with translation.override("zh-hans"):
        assert translation.gettext("This action is not allowed in the current state.") == "当前状态不允许此操作。"
    with translation.override("en"):
        assert translation.gettext("This action is not allowed in the current state.") == \
            "This action is not allowed in the current state."


# --- the check itself, on a small app of its own --------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    """A throwaway app: some code, a template, and where its catalogues go."""
    (tmp_path / "templates" / "shop").mkdir(parents=True)
    (tmp_path / "views.py").write_text(
        "from django.utils.translation import gettext as _, gettext_lazy, ngettext, pgettext\n"
        "A = _('Your order %(number)s is open.')\n"
        "B = gettext_lazy('Store')\n"
        "C = ngettext('%(count)s visit', '%(count)s visits', 2)\n"
        "D = pgettext('month', 'May')\n", encoding="utf-8")
    (tmp_path / "templates" / "shop" / "page.html").write_text(
        "{% load i18n %}<h1>{% translate 'Steps' %}</h1>\n"
        "{% blocktranslate trimmed with n=order.number %}\n  Order {{ n }}\n{% endblocktranslate %}\n",
        encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_initial.py").write_text("_('not extracted from migrations')\n")
    return Unit("shop", (tmp_path,), tmp_path / "locale", served=False)


def translate(unit: Unit, table: dict) -> None:
    from babel.messages.pofile import write_po

    path = unit.po_path("zh_Hans")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="zh_Hans")
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in table:
            message.string = (table[key],) if isinstance(message.id, tuple) else table[key]
    with path.open("wb") as fh:
        write_po(fh, catalog, width=0, sort_output=True, include_lineno=False)


ZH = {"Your order %(number)s is open.": "您的订单 %(number)s 已创建。", "Store": "门店",
      "%(count)s visit": "%(count)s 次上门", "May": "五月", "Steps": "步骤", "Order %(n)s": "订单 %(n)s"}


def test_extraction_finds_code_and_template_strings_and_leaves_them_to_translate(app):
    report = update(app)

    assert report["zh_Hans"] == {"messages": 6, "untranslated": 6} and report["en"]["messages"] == 6
    with app.po_path("zh_Hans").open("rb") as fh:
        ids = {m.id if not isinstance(m.id, tuple) else m.id[0] for m in read_po(fh) if m.id}
    assert ids == set(ZH)
    untranslated = [p for p in problems([app]) if "has no zh_Hans translation" in p]
    assert len(untranslated) == 6 and not [p for p in problems([app]) if "en/" in p]


def test_translated_in_full_the_check_passes_and_a_new_template_string_fails_it(app):
    update(app)
    translate(app, ZH)
    assert problems([app]) == []

    page = app.sources[0] / "templates" / "shop" / "page.html"
    page.write_text(page.read_text() + "{% translate 'Pay now' %}\n")

    assert [p for p in problems([app]) if "missing 'Pay now'" in p and "templates/shop/page.html" in p]
    update(app)
    assert [p for p in problems([app]) if "'Pay now' has no zh_Hans translation" in p]


def test_a_new_code_string_and_a_string_no_longer_used_are_reported(app):
    update(app)
    translate(app, ZH)
    views = app.sources[0] / "views.py"
    views.write_text(views.read_text().replace("_('Your order %(number)s is open.')", "_('Refund sent.')"))

    found = problems([app])

    assert any("missing 'Refund sent.'" in p and "views.py" in p for p in found)
    assert any("'Your order %(number)s is open.' is used nowhere any more" in p for p in found)


@pytest.mark.parametrize("wrong", ["您的订单已创建。", "您的订单 %(numero)s 已创建。", "您的订单 %s 已创建。"])
def test_a_translation_whose_placeholders_differ_is_reported(app, wrong):
    update(app)
    translate(app, {**ZH, "Your order %(number)s is open.": wrong})

    assert [p for p in problems([app]) if "placeholders" in p and "Your order" in p]


def test_an_english_translation_whose_placeholders_differ_is_reported_too(app):
    update(app)
    translate(app, ZH)
    path = app.po_path("en")
    path.write_text(path.read_text().replace('msgid "Order %(n)s"\nmsgstr ""', 'msgid "Order %(n)s"\nmsgstr "Order"'))

    assert [p for p in problems([app]) if "en/" in p and "placeholders" in p]


@pytest.mark.parametrize("text, found", [
    ("Pay %(amount)s by %(when)s", (("amount", "when"), 0)),
    ("100%% sure, %s", ((), 1)),
    ("{name} and {count}", (("{count}", "{name}"), 0)),
    ("nothing", ((), 0)),
])
def test_placeholders(text, found):
    assert placeholders(text) == found


def test_compiling_needs_no_gnu_gettext(tmp_path):
    """`manage.py translations compile` with a PATH that has no msgfmt (as on a fresh machine)."""
    bare = tmp_path / "bin"
    bare.mkdir()
    result = subprocess.run(
        [sys.executable, "manage.py", "translations", "compile"], cwd=catalogues.BASE_DIR, capture_output=True,
        text=True, env={"PATH": str(bare), "DJANGO_SETTINGS_MODULE": "config.settings.test"}, timeout=120,
    )
    assert shutil.which("msgfmt", path=str(bare)) is None
    assert result.returncode == 0, result.stderr
    assert "compiled" in result.stdout
    assert all(Path(po).with_suffix(".mo").exists() for po in catalogues.po_files())
