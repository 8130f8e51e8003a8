"""API tokens expire after API_TOKEN_TTL: 401 `token_expired`, the token is deleted, a login issues a new one;
POST /api/v1/auth/logout/ deletes it at once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

TOKEN_URL = "/api/v1/auth/token/"
LOGOUT_URL = "/api/v1/auth/logout/"
CREDENTIALS = {"username": "a_tech", "password": "demo-pass-123"}


def login(api_client) -> str:
    response = api_client().post(TOKEN_URL, CREDENTIALS, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"token"}  # the login answer keeps its shape
    return response.json()["token"]


def client_with(api_client, key: str):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def age(key: str, by: timedelta) -> None:
    """The token made older by editing its row with a save, so the cached look-up (core.authentication) hears of it
    as it would of time passing (the cached entry keeps `created` and checks it on every request)."""
    token = Token.objects.get(key=key)
    token.created = timezone.now() - by
    token.save(update_fields=["created"])


def test_the_default_lifetime_is_30_days():
    assert timedelta(days=30) == settings.API_TOKEN_TTL


def test_a_fresh_token_works(api_client, technician):
    key = login(api_client)
    assert client_with(api_client, key).get("/api/v1/technician/jobs/").status_code == 200


def test_a_token_just_under_its_lifetime_still_works(api_client, technician):
    key = login(api_client)
    age(key, settings.API_TOKEN_TTL - timedelta(minutes=1))
    assert client_with(api_client, key).get("/api/v1/technician/jobs/").status_code == 200


@pytest.mark.usefixtures("english")
def test_an_expired_token_answers_401_token_expired_and_is_deleted(api_client, technician):
    key = login(api_client)
    age(key, settings.API_TOKEN_TTL + timedelta(seconds=1))
    client = client_with(api_client, key)

    response = client.get("/api/v1/technician/jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"code": "token_expired", "detail": "The token has expired; log in again for a new one."}
    assert not Token.objects.filter(key=key).exists()
    # Afterwards the dead key is just an unknown one.
    response = client.get("/api/v1/technician/jobs/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_login_after_expiry_issues_a_new_working_token_and_the_old_one_stays_dead(api_client, technician):
    old = login(api_client)
    age(old, settings.API_TOKEN_TTL + timedelta(hours=1))
    assert client_with(api_client, old).get("/api/v1/technician/jobs/").status_code == 401

    new = login(api_client)
    assert new != old
    assert client_with(api_client, new).get("/api/v1/technician/jobs/").status_code == 200
    assert client_with(api_client, old).get("/api/v1/technician/jobs/").status_code == 401


def test_login_replaces_an_expired_token_even_before_it_was_refused(api_client, technician):
    old = login(api_client)
    age(old, settings.API_TOKEN_TTL + timedelta(hours=1))
    new = login(api_client)
    assert new != old
    assert list(Token.objects.filter(user=technician).values_list("key", flat=True)) == [new]


def test_login_while_still_sending_the_expired_token_works(api_client, technician):
    # A phone app may keep sending its old Authorization header on the login that replaces it.
    old = login(api_client)
    age(old, settings.API_TOKEN_TTL + timedelta(hours=1))
    response = client_with(api_client, old).post(TOKEN_URL, CREDENTIALS, format="json")
    assert response.status_code == 200
    assert response.json()["token"] != old


def test_the_lifetime_comes_from_the_setting(api_client, technician, settings):
    settings.API_TOKEN_TTL = timedelta(hours=1)
    key = login(api_client)
    age(key, timedelta(minutes=59))
    assert client_with(api_client, key).get("/api/v1/technician/jobs/").status_code == 200
    age(key, timedelta(minutes=61))
    assert client_with(api_client, key).get("/api/v1/technician/jobs/").status_code == 401


def test_checking_the_age_costs_no_query(api_client, technician, django_assert_num_queries):
    key = login(api_client)
    from core.authentication import ExpiringTokenAuthentication

    with django_assert_num_queries(1):  # the token with its user, as DRF's own look-up
        user, token = ExpiringTokenAuthentication().authenticate_credentials(key)
    assert user == technician


def test_an_expired_token_with_an_idempotency_key_does_not_poison_the_retry(api_client, technician):
    old = login(api_client)
    age(old, settings.API_TOKEN_TTL + timedelta(hours=1))
    headers = {"HTTP_IDEMPOTENCY_KEY": "logout-1"}
    assert client_with(api_client, old).post(LOGOUT_URL, **headers).status_code == 401
    new = login(api_client)
    assert client_with(api_client, new).post(LOGOUT_URL, **headers).status_code == 204


def test_logout_deletes_the_token(api_client, technician):
    key = login(api_client)
    client = client_with(api_client, key)
    response = client.post(LOGOUT_URL)
    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()
    assert client.get("/api/v1/technician/jobs/").status_code == 401
    assert login(api_client) != key


@pytest.mark.parametrize("header", [None, "Token not-a-real-token"])
def test_logout_needs_a_valid_token(api_client, db, header):
    client = api_client()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(LOGOUT_URL)
    assert response.status_code == 401
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")
