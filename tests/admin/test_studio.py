"""The template studio: stages reordered with Up and Down (positions are never typed; a new stage goes last) and
checklists edited as rows of text, never as JSON."""

import pytest
from django.urls import reverse

from tests.admin.conftest import web
from tests.factories.workflows import make_template
from workflows.admin.studio import ChecklistField

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # reads English wording


@pytest.fixture
def draft(merchant, store):
    return make_template(merchant=merchant, stores=[store], publish=False).versions.get()


def order_of(version):
    return list(version.stages.order_by("position").values_list("code", flat=True))


def test_up_and_down_move_one_stage_one_place(draft, merchant_admin):
    client = web(merchant_admin)
    url = reverse("admin:workflows_version_reorder", args=[draft.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="down-booking"' in page and 'data-testid="up-booking"' not in page
    design = draft.stages.get(code="design")
    assert client.post(url, {"up": design.pk}).status_code == 302
    assert order_of(draft) == ["booking", "design", "measuring", "installation", "acceptance"]
    client.post(url, {"down": draft.stages.get(code="booking").pk})
    assert order_of(draft) == ["design", "booking", "measuring", "installation", "acceptance"]
    assert list(draft.stages.order_by("position").values_list("position", flat=True)) == [1, 2, 3, 4, 5]
    # the first stage cannot go further up: a message, nothing moves
    response = client.post(url, {"up": design.pk}, follow=True)
    assert [m.level_tag for m in response.context["messages"]][-1] == "error"  # after the two moves' successes
    assert order_of(draft) == ["design", "booking", "measuring", "installation", "acceptance"]


def test_published_versions_and_other_roles_cannot_reorder(merchant, store, store_manager, other_admin,
                                                           merchant_admin, draft):
    published = make_template(merchant=merchant, stores=[store]).versions.get()
    before = order_of(published)
    url = reverse("admin:workflows_version_reorder", args=[published.pk])
    response = web(merchant_admin).post(url, {"down": published.stages.get(code="booking").pk}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["error"] and order_of(published) == before
    draft_url = reverse("admin:workflows_version_reorder", args=[draft.pk])
    web(store_manager).post(draft_url, {"down": draft.stages.get(code="booking").pk})
    assert order_of(draft)[0] == "booking"  # a store manager does not author templates
    assert web(other_admin).get(draft_url).status_code == 404


def test_the_checklist_is_rows_of_text():
    field = ChecklistField()
    assert field.clean("Walls measured\n\n  Photos of the corners  \n") == ["Walls measured", "Photos of the corners"]
    assert field.widget.format_value(["A", "B"]) == "A\nB"
    with pytest.raises(Exception, match="once"):
        field.clean("A\nA")


def _form_data(response) -> dict:
    """What the admin's change form would send back as it is shown (the inline stages included)."""
    data = {}
    for formset in response.context["inline_admin_formsets"]:
        fs = formset.formset
        data.update({f"{fs.prefix}-TOTAL_FORMS": str(fs.total_form_count()),
                     f"{fs.prefix}-INITIAL_FORMS": str(fs.initial_form_count())})
        for form in fs.forms:
            for name, bound in form.fields.items():
                value = form[name].value()
                if isinstance(bound, ChecklistField):
                    value = bound.widget.format_value(value)
                if value is None or value is False:
                    continue
                data[form.add_prefix(name)] = value if not isinstance(value, bool) else "on"
    return data


def test_the_draft_page_saves_checklist_rows_and_appends_a_new_stage(draft, merchant_admin):
    client = web(merchant_admin)
    url = reverse("admin:workflows_templateversion_change", args=[draft.pk])
    response = client.get(url)
    html = response.content.decode()
    assert 'name="stages-0-position"' not in html  # positions are shown, never typed
    data = _form_data(response)
    measuring = next(k[: -len("-code")] for k, v in data.items() if k.endswith("-code") and v == "measuring")
    data[f"{measuring}-checklist"] = "Walls measured\nWindows measured\n\n"
    total = int(data["stages-TOTAL_FORMS"])
    data.update({"stages-TOTAL_FORMS": str(total + 1), f"stages-{total}-code": "cleanup",
                 f"stages-{total}-name": "Clean-up", f"stages-{total}-payment_timing": "before",
                 f"stages-{total}-appointment_minutes": "120", f"stages-{total}-max_rework_rounds": "2",
                 f"stages-{total}-min_photos": "0", f"stages-{total}-voucher_valid_days": "90",
                 f"stages-{total}-arrival_tolerance_minutes": "15", f"stages-{total}-checklist": "",
                 f"stages-{total}-payment_currency": "CNY"})  # the currency select's default, as a browser sends it
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.context["inline_admin_formsets"][0].formset.errors
    assert draft.stages.get(code="measuring").checklist == ["Walls measured", "Windows measured"]
    assert order_of(draft)[-1] == "cleanup" and draft.stages.get(code="cleanup").position == 6
