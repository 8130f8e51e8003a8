"""The admin lists vouchers with their state and last4, never the code, and nobody edits them."""

import pytest
from django.test import Client

from vouchers import codes


@pytest.fixture
def admin_web(merchant_admin):
    client = Client()
    client.force_login(merchant_admin)
    return client


def test_voucher_list_shows_state_and_last4_never_the_code(admin_web, voucher, code):
    response = admin_web.get("/admin/vouchers/voucher/")
    assert response.status_code == 200
    html = response.content.decode()
    assert voucher.masked in html and voucher.masked.endswith(f"{voucher.last4[:3]}-{voucher.last4[3]}")
    assert "issued" in html.lower()
    normalized = codes.normalize(code)
    assert code not in html and normalized not in html and normalized[:-1] not in html


def test_voucher_page_is_read_only_without_the_code(admin_web, voucher, code):
    response = admin_web.get(f"/admin/vouchers/voucher/{voucher.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert codes.normalize(code) not in html and code not in html
    assert voucher.code_encrypted not in html and voucher.lookup_hash not in html
    assert admin_web.post(f"/admin/vouchers/voucher/{voucher.pk}/change/", {}).status_code == 403
    assert admin_web.get("/admin/vouchers/voucher/add/").status_code == 403


def test_other_brand_admin_does_not_see_the_voucher(other_admin, voucher):
    client = Client()
    client.force_login(other_admin)
    listing = client.get("/admin/vouchers/voucher/").content.decode()
    assert f"/admin/vouchers/voucher/{voucher.pk}/change/" not in listing
    response = client.get(f"/admin/vouchers/voucher/{voucher.pk}/change/")
    assert response.status_code == 302
