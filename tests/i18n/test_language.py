"""Which language a person is answered in (api-contract.md, Language): their own setting, else Accept-Language,
else Simplified Chinese. Error `code`s never change with the language."""

import pytest
from django.test import Client

from core.errors import DomainError, GuardFailed, InvalidTransition, NotFound
from tenancy.models import User

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"


def test_an_api_error_is_in_chinese_by_default_and_in_the_browsers_language_when_asked(anon_client):
    default = anon_client.get("/api/v1/no-such-thing/")
    english = anon_client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert default.status_code == english.status_code == 404
    assert default.json() == {"code": "not_found", "detail": "未找到。"}
    assert english.json() == {"code": "not_found", "detail": "Not found."}
    assert default["Content-Language"] == "zh-hans" and english["Content-Language"] == "en"


def test_drf_and_domain_errors_keep_their_codes_in_both_languages(client_for, consumer):
    client = client_for(consumer)
    for accept, detail in (("zh-CN", "无效的输入。"), ("en", "Invalid input.")):
        response = client.patch(ME, {"language": "klingon"}, format="json", HTTP_ACCEPT_LANGUAGE=accept)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid" and response.json()["detail"] == detail
        assert list(response.json()["errors"]) == ["language"]


def test_the_persons_own_language_wins_over_the_browsers(client_for, consumer):
    client = client_for(consumer)
    assert client.get(ME, HTTP_ACCEPT_LANGUAGE="en").json()["active_language"] == "en"

    changed = client.patch(ME, {"language": "en"}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert changed.status_code == 200
    assert changed.json()["language"] == "en" and changed.json()["active_language"] == "en"
    assert User.objects.get(pk=consumer.pk).language == "en"
    answer = client.get("/api/v1/orders/999999/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert answer.status_code == 404 and answer.json() == {"code": "not_found", "detail": "Not found."}
    assert answer["Content-Language"] == "en"


def test_an_empty_language_follows_the_browser_again(client_for, consumer):
    consumer.language = "en"
    consumer.save(update_fields=["language"])
    client = client_for(consumer)

    reset = client.patch(ME, {"language": ""}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert reset.status_code == 200 and reset.json()["language"] == ""
    assert reset.json()["active_language"] == "zh-hans"
    assert client.get(ME).json()["active_language"] == "zh-hans"  # no Accept-Language: the default
    assert client.get(ME, HTTP_ACCEPT_LANGUAGE="en").json()["active_language"] == "en"


def test_me_shows_the_callers_own_account_only_and_changes_nothing_but_the_language(client_for, technician):
    client = client_for(technician)

    response = client.patch(ME, {"language": "zh-hans", "role": "platform_operator", "username": "root"},
                            format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == technician.pk and body["role"] == "technician" and body["username"] == technician.username
    technician.refresh_from_db()
    assert technician.role == "technician" and technician.language == "zh-hans"


def test_me_needs_a_login(anon_client):
    response = anon_client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response.json()["detail"] == "身份认证信息未提供。"  # DRF's own Chinese


def test_an_idempotency_error_is_in_the_callers_language(client_for, consumer):
    consumer.language = "en"
    consumer.save(update_fields=["language"])
    client = client_for(consumer)
    client.patch(ME, {"language": "en"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    reused = client.patch(ME, {"language": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k1", HTTP_ACCEPT_LANGUAGE="zh")

    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert reused.json()["detail"] == "This Idempotency-Key was used with a different request."


@pytest.mark.parametrize("error, chinese", [
    (DomainError(), "无法执行此请求。"),
    (InvalidTransition(), "当前状态不允许此操作。"),
    (GuardFailed(), "当前状态允许此操作，但其前提条件尚未满足。"),
    (NotFound(), "未找到。"),
])
def test_domain_errors_without_a_detail_say_their_default_in_the_active_language(error, chinese):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert str(error.detail) == chinese
    with translation.override("en"):
        assert str(error.detail) != chinese and str(error.detail).endswith(".")


# --- the admin ---------------------------------------------------------------------------------------


def test_the_admin_login_page_is_in_chinese_by_default():
    page = Client().get("/admin/login/")
    assert page.status_code == 200 and page["Content-Language"] == "zh-hans"
    assert "登录" in page.content.decode()
    assert 'lang="zh-hans"' in page.content.decode()


def test_an_admin_user_reads_the_admin_in_their_own_language(store_manager):
    client = Client()
    client.force_login(store_manager)
    assert "站点管理" in client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    store_manager.language = "en"
    store_manager.save(update_fields=["language"])
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert page["Content-Language"] == "en" and "Site administration" in page.content.decode()
