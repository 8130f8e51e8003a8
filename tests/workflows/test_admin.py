"""Merchants build workflows in Django admin: stage inlines, problems shown in the page, publish,
distribute, diagram and split preview — scoped to their own merchant."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories.workflows import make_order, make_template
from workflows.models import TemplateDistribution, TemplateVersion


@pytest.fixture
def admin_web(merchant_admin):
    client = Client()
    client.force_login(merchant_admin)
    return client


@pytest.mark.usefixtures("english")
def test_draft_page_shows_problems_split_and_diagram(admin_web, merchant):
    template = make_template(merchant=merchant, publish=False)
    draft = template.versions.get()
    page = admin_web.get(reverse("admin:workflows_templateversion_change", args=[draft.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "None: this draft can be published." in html
    assert "<td>Design</td><td>30.00%</td>" in html and "CN¥3,000.00" in html  # split of a 10,000.00 sample
    assert reverse("admin:workflows_version_diagram", args=[draft.pk]) in html
    diagram = admin_web.get(reverse("admin:workflows_version_diagram", args=[draft.pk]))
    assert diagram.status_code == 200 and diagram.content.lstrip()[:5] in (b"<?xml", b"<svg ", b"---\nS")


@pytest.mark.usefixtures("english")
def test_publishing_an_invalid_draft_shows_each_problem_and_changes_nothing(admin_web, merchant):
    template = make_template(merchant=merchant, publish=False)
    draft = template.versions.get()
    draft.stages.filter(code="booking").update(payment_share=25)
    response = admin_web.post(reverse("admin:workflows_version_publish", args=[draft.pk]), follow=True)
    assert "Payment shares add up to 115.00%, not 100%." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == TemplateVersion.Status.DRAFT


def test_publish_then_distribute_from_admin(admin_web, merchant, store, store2):
    template = make_template(merchant=merchant, publish=False)
    draft = template.versions.get()
    admin_web.post(reverse("admin:workflows_version_publish", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == TemplateVersion.Status.PUBLISHED and draft.number == 1
    response = admin_web.post(reverse("admin:workflows_version_distribute", args=[draft.pk]), {"stores": [store2.pk]})
    assert response.status_code == 302
    assert list(TemplateDistribution.objects.values_list("store_id", "version_id")) == [(store2.pk, draft.pk)]


@pytest.mark.usefixtures("english")
def test_published_versions_are_read_only_in_admin(admin_web, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    version = template.versions.get()
    page = admin_web.get(reverse("admin:workflows_templateversion_change", args=[version.pk]))
    assert "Published versions are frozen." in page.content.decode()
    assert 'name="stages-0-code"' not in page.content.decode()


def test_other_merchant_cannot_open_or_publish_our_workflow(client_for, other_admin, merchant, store, consumer):
    template = make_template(merchant=merchant, publish=False)
    draft = template.versions.get()
    web = Client()
    web.force_login(other_admin)
    assert web.get(reverse("admin:workflows_version_diagram", args=[draft.pk])).status_code == 404
    assert web.post(reverse("admin:workflows_version_publish", args=[draft.pk])).status_code == 404
    change = web.get(reverse("admin:workflows_templateversion_change", args=[draft.pk]), follow=True)
    assert "Custom wardrobe" not in change.content.decode()
    order = make_order(store=store, consumer=consumer)
    listing = web.get(reverse("admin:workflows_serviceorder_changelist"))
    assert order.number not in listing.content.decode()


def test_cancel_from_admin_calls_the_service(admin_web, store, consumer):
    order = make_order(store=store, consumer=consumer)
    admin_web.post(reverse("admin:workflows_order_cancel", args=[order.pk]), {"reason": "Duplicate order"})
    order.refresh_from_db()
    assert order.state == "cancelled" and order.cancel_reason == "Duplicate order"
    assert order.events.filter(kind="stage.cancel").count() == 1


