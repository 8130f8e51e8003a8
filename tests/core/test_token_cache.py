"""The token's look-up kept in the cache (core.authentication, API_TOKEN_CACHE_SECONDS): a client in use sends no
statement to authenticate, and a logout, a deactivation, a new role or an expiry is seen at once all the same."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.authentication import _cache_key, revoke_tokens

JOBS = "/api/v1/technician/jobs/"

pytestmark = pytest.mark.django_db


def token_reads(client, url=JOBS) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        status = client.get(url).status_code
    return status, sum("authtoken_token" in q["sql"] for q in ctx.captured_queries)


def test_a_client_in_use_authenticates_without_a_statement(client_for, technician):
    client = client_for(technician)
    assert token_reads(client) == (200, 1)
    assert token_reads(client) == (200, 0)


def test_without_the_cache_every_request_reads_the_token(client_for, technician, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    client = client_for(technician)
    assert token_reads(client) == (200, 1)
    assert token_reads(client) == (200, 1)


def test_the_cache_keeps_neither_the_key_nor_the_password_hash(client_for, technician):
    client = client_for(technician)
    client.get(JOBS)
    key = Token.objects.get(user=technician).key
    user, created = cache.get(_cache_key(key))
    assert user.pk == technician.pk and created == Token.objects.get(key=key).created
    assert "password" in user.get_deferred_fields()
    assert key not in _cache_key(key)


def test_a_logout_is_seen_at_once(client_for, technician):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get(JOBS).status_code == 401


def test_revoking_the_tokens_is_seen_at_once(client_for, technician):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    revoke_tokens(technician)
    assert client.get(JOBS).status_code == 401


def test_a_deactivated_user_is_refused_at_once(client_for, technician):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    technician.is_active = False
    technician.save(update_fields=["is_active"])
    assert client.get(JOBS).status_code == 401


def test_a_new_role_is_seen_at_once(client_for, technician):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    technician.role = technician.Role.CONSUMER
    technician.save(update_fields=["role"])
    assert client.get(JOBS).status_code == 403


def test_a_cached_token_still_expires(client_for, technician, settings):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    settings.API_TOKEN_TTL = timezone.now() - Token.objects.get(user=technician).created - timedelta(seconds=1)
    response = client.get(JOBS)
    assert response.status_code == 401 and response.json()["code"] == "token_expired"
    assert not Token.objects.filter(user=technician).exists()


def test_a_deleted_user_is_refused(client_for, technician):
    client = client_for(technician)
    assert client.get(JOBS).status_code == 200
    key = Token.objects.get(user=technician).key
    technician.delete()
    assert cache.get(_cache_key(key)) is None
    assert client.get(JOBS).status_code == 401


def test_a_user_saved_without_a_cached_token_is_fine(technician):
    technician.first_name = "Renamed"
    technician.save()
    assert cache.get(f"api-token-user:{technician.pk}") is None


def test_a_new_language_is_seen_at_once(client_for, consumer):
    """user_language_set writes with a queryset update (no signal): it drops the cached look-up itself."""
    client = client_for(consumer)
    assert client.get("/api/v1/auth/me/").status_code == 200
    assert client.patch("/api/v1/auth/me/", {"language": "en"}, format="json").status_code == 200
    assert client.get("/api/v1/orders/999999/", HTTP_ACCEPT_LANGUAGE="zh-CN")["Content-Language"] == "en"


def test_an_in_process_cache_is_not_used_unless_allowed(client_for, technician, settings):
    """Another worker's in-process cache would not hear of a logout: off there unless one process is all there is."""
    settings.API_TOKEN_CACHE_IN_PROCESS = False
    client = client_for(technician)
    assert token_reads(client) == (200, 1)
    assert token_reads(client) == (200, 1)
