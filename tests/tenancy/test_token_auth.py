"""POST /api/v1/auth/token/: a password buys a token; wrong passwords and floods do not."""

import pytest
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

TOKEN_URL = "/api/v1/auth/token/"


def test_right_password_gives_a_token_that_authenticates(api_client, merchant_admin, store):
    client = api_client()
    response = client.post(TOKEN_URL, {"username": "a_admin", "password": "demo-pass-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    stores = client.get("/api/v1/stores/")
    assert stores.status_code == 200
    assert [row["id"] for row in stores.json()["results"]] == [store.pk]


def test_token_is_stable_across_logins(api_client, merchant_admin):
    first = api_client().post(TOKEN_URL, {"username": "a_admin", "password": "demo-pass-123"}, format="json")
    second = api_client().post(TOKEN_URL, {"username": "a_admin", "password": "demo-pass-123"}, format="json")
    assert first.json()["token"] == second.json()["token"]


def test_form_encoded_login_works_too(api_client, technician):
    response = api_client().post(TOKEN_URL, {"username": "a_tech", "password": "demo-pass-123"})
    assert response.status_code == 200 and response.json()["token"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "a_admin", "password": "wrong-password"},
        {"username": "nobody", "password": "demo-pass-123"},
    ],
)
def test_wrong_credentials_answer_400_in_the_error_format(api_client, merchant_admin, payload):
    response = api_client().post(TOKEN_URL, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    assert "non_field_errors" in body["errors"]
    assert "token" not in body


def test_missing_fields_answer_400_with_field_errors(api_client, db):
    response = api_client().post(TOKEN_URL, {"username": "a_admin"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"password"}


def test_inactive_user_gets_no_token(api_client, merchant_admin):
    merchant_admin.is_active = False
    merchant_admin.save(update_fields=["is_active"])
    credentials = {"username": "a_admin", "password": "demo-pass-123"}
    response = api_client().post(TOKEN_URL, credentials, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("body", ["not json at all", '{"username": ["a"], "password": {"x": 1}}', "[]"])
def test_malformed_body_is_a_4xx_never_a_5xx(api_client, db, body):
    response = api_client().post(TOKEN_URL, body, content_type="application/json")
    assert 400 <= response.status_code < 500


def test_bad_token_is_401(api_client, store):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/stores/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_login_is_throttled_after_the_login_rate(api_client, merchant_admin, monkeypatch):
    # DRF reads the rates into a class attribute at import, so the settings fixture cannot change it.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/min"})
    cache.clear()
    client = api_client()
    statuses = [
        client.post(TOKEN_URL, {"username": "a_admin", "password": "wrong"}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 400]

    # Even the right password is refused once the rate is spent: guessing cannot go on.
    response = client.post(TOKEN_URL, {"username": "a_admin", "password": "demo-pass-123"}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"
    assert "token" not in response.json()


def test_default_login_rate_is_configured():
    # Without a configured rate the throttle raises ImproperlyConfigured on every login.
    assert "login" in ScopedRateThrottle.THROTTLE_RATES
