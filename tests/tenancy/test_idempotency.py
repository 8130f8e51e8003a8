"""core.idempotency: an Idempotency-Key makes an unsafe request safe to send again."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.idempotency import purge_expired_keys
from core.models import IdempotencyKey
from tenancy.models import Merchant
from tests import idempotency_urls

pytestmark = pytest.mark.urls("tests.idempotency_urls")

URL = "/api/v1/test-echo/"


@pytest.fixture(autouse=True)
def _reset_behaviour():
    idempotency_urls.behaviour.update({"status": 201, "raise": False, "sleep": 0.0})
    yield
    idempotency_urls.behaviour.update({"status": 201, "raise": False, "sleep": 0.0})


def post(client, key, body=None, url=URL):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, body if body is not None else {"name": "first"}, format="json", **headers)


def test_replay_returns_the_first_response_without_doing_the_work_again(consumer_client):
    first = post(consumer_client, "key-1")
    assert first.status_code == 201
    second = post(consumer_client, "key-1")
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Merchant.objects.count() == 1


def test_without_a_key_every_request_does_the_work(consumer_client):
    post(consumer_client, None)
    post(consumer_client, None)
    assert Merchant.objects.count() == 2


def test_replay_keeps_a_non_201_status(consumer_client):
    idempotency_urls.behaviour["status"] = 202
    assert post(consumer_client, "key-202").status_code == 202
    assert post(consumer_client, "key-202").status_code == 202
    assert Merchant.objects.count() == 1


def test_same_key_different_body_is_422(consumer_client):
    post(consumer_client, "key-1", {"name": "first"})
    response = post(consumer_client, "key-1", {"name": "second"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Merchant.objects.count() == 1


def test_same_key_other_endpoint_is_422(consumer_client):
    post(consumer_client, "key-1")
    response = post(consumer_client, "key-1", url="/api/v1/test-echo-2/")
    assert response.status_code == 422
    assert Merchant.objects.count() == 1


def test_keys_are_scoped_to_the_caller(consumer_client, client_for, consumer2):
    other = client_for(consumer2)
    first = post(consumer_client, "shared-key")
    second = post(other, "shared-key")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert Merchant.objects.count() == 2
    # Each caller's replay is its own first response.
    assert post(other, "shared-key").json() == second.json()


def test_an_expired_key_is_treated_as_new(consumer_client, settings):
    first = post(consumer_client, "old-key")
    expired = timezone.now() - settings.IDEMPOTENCY_KEY_TTL - timedelta(minutes=1)
    IdempotencyKey.objects.update(created_at=expired)
    second = post(consumer_client, "old-key")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in second
    assert Merchant.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1


def test_a_key_is_kept_for_at_least_24_hours(consumer_client, settings):
    assert timedelta(hours=24) <= settings.IDEMPOTENCY_KEY_TTL
    first = post(consumer_client, "day-key")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
    assert post(consumer_client, "day-key").json() == first.json()
    assert Merchant.objects.count() == 1


def test_purge_removes_only_expired_keys(consumer_client, settings):
    post(consumer_client, "old")
    expired = timezone.now() - settings.IDEMPOTENCY_KEY_TTL - timedelta(seconds=1)
    IdempotencyKey.objects.update(created_at=expired)
    post(consumer_client, "new")
    assert purge_expired_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_5xx_response_is_not_stored(consumer_client):
    idempotency_urls.behaviour["status"] = 503
    assert post(consumer_client, "flaky").status_code == 503
    assert not IdempotencyKey.objects.exists()

    idempotency_urls.behaviour["status"] = 201
    retry = post(consumer_client, "flaky")
    assert retry.status_code == 201  # the retry did the work instead of replaying the failure
    assert Merchant.objects.count() == 2
    assert post(consumer_client, "flaky").json() == retry.json()


def test_an_exception_in_the_view_releases_the_key(consumer_client):
    idempotency_urls.behaviour["raise"] = True
    consumer_client.raise_request_exception = False
    assert post(consumer_client, "crash").status_code == 500
    assert not IdempotencyKey.objects.exists()
    idempotency_urls.behaviour["raise"] = False
    assert post(consumer_client, "crash").status_code == 201


def test_a_request_still_in_progress_answers_409(consumer_client):
    post(consumer_client, "slow")
    IdempotencyKey.objects.update(state=IdempotencyKey.State.IN_PROGRESS, response_status=None)
    response = post(consumer_client, "slow")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert Merchant.objects.count() == 1


def test_a_claim_abandoned_past_its_lease_is_taken_over(consumer_client, settings):
    """A request that never finished (worker killed, database gone before the key was released) does not
    block its key for the whole TTL: once the lease has passed, a retry does the work."""
    post(consumer_client, "orphan")
    IdempotencyKey.objects.update(state=IdempotencyKey.State.IN_PROGRESS, response_status=None,
                                  created_at=timezone.now() - settings.IDEMPOTENCY_CLAIM_LEASE + timedelta(seconds=5))
    assert post(consumer_client, "orphan").status_code == 409  # still within the lease
    IdempotencyKey.objects.update(created_at=timezone.now() - settings.IDEMPOTENCY_CLAIM_LEASE - timedelta(seconds=1))
    retry = post(consumer_client, "orphan")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert Merchant.objects.count() == 2
    assert post(consumer_client, "orphan").json() == retry.json()  # and the retry's answer is kept


def test_a_too_long_key_is_400(consumer_client):
    response = post(consumer_client, "k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert Merchant.objects.count() == 0


def test_anonymous_requests_store_nothing_and_get_401(anon_client, db):
    response = post(anon_client, "anon-key")
    assert response.status_code == 401
    assert not IdempotencyKey.objects.exists()
    assert Merchant.objects.count() == 0


def test_a_bad_token_stores_nothing(api_client, db):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert post(client, "bad-token").status_code == 401
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_do_the_work_once(consumer):
    token = Token.objects.create(user=consumer)
    idempotency_urls.behaviour["sleep"] = 0.3  # keep the first request in progress while others arrive
    threads_count = 16
    barrier = threading.Barrier(threads_count)
    results: list = []
    errors: list = []

    def worker():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            barrier.wait(timeout=10)
            response = post(client, "race-key")
            results.append((response.status_code, response.json()))
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(results) == threads_count
    statuses = [status for status, _ in results]
    assert all(status in (201, 409) for status, _ in results), statuses
    assert Merchant.objects.count() == 1
    created = [body for status, body in results if status == 201]
    assert created and all(body == created[0] for body in created)
    assert all(body["code"] == "idempotency_in_progress" for status, body in results if status == 409)
