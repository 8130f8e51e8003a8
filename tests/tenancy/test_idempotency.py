"""core.idempotency: an Idempotency-Key makes an unsafe request safe to send again."""

import hashlib
import threading
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory
from django.test.client import encode_multipart
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.idempotency import _fingerprint, purge_expired_keys
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


# --- the fingerprint is the request's meaning, not its bytes ---------------------------------------------------

UPLOAD_URL = "/api/v1/test-upload/"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def upload(data=PNG, name="p.png", content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def multipart(client, key, data, url=UPLOAD_URL):
    """A multipart POST with a fresh random boundary, as real clients send (the test client's is fixed)."""
    boundary = uuid.uuid4().hex
    return client.post(url, encode_multipart(boundary, data), content_type=f"multipart/form-data; boundary={boundary}",
                       HTTP_IDEMPOTENCY_KEY=key)


def raw(client, key, body, content_type, url=URL):
    return client.post(url, body, content_type=content_type, HTTP_IDEMPOTENCY_KEY=key)


def test_a_multipart_retry_with_a_new_boundary_replays(consumer_client):
    first = multipart(consumer_client, "up-1", {"kind": "photo", "file": upload()})
    second = multipart(consumer_client, "up-1", {"kind": "photo", "file": upload()})
    assert first.status_code == second.status_code == 201
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert Merchant.objects.count() == 1


def test_the_view_receives_the_fields_and_the_file_intact_after_the_fingerprint(consumer_client):
    body = multipart(consumer_client, "up-intact", {"kind": "photo", "note": ["a", "b"], "file": upload()}).json()
    assert body["fields"] == {"kind": ["photo"], "note": ["a", "b"]}
    assert body["files"]["file"] == [{"name": "p.png", "content_type": "image/png", "size": len(PNG),
                                      "sha256": hashlib.sha256(PNG).hexdigest(), "class": "InMemoryUploadedFile"}]


def test_a_large_upload_is_streamed_to_disk_hashed_once_and_received_intact(consumer_client, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # this upload goes to a temporary file, not to memory
    data = PNG * 64
    first = multipart(consumer_client, "up-big", {"file": upload(data)})
    assert first.json()["files"]["file"] == [{"name": "p.png", "content_type": "image/png", "size": len(data),
                                              "sha256": hashlib.sha256(data).hexdigest(),
                                              "class": "TemporaryUploadedFile"}]
    assert multipart(consumer_client, "up-big", {"file": upload(data)}).content == first.content
    assert multipart(consumer_client, "up-big", {"file": upload(data[:-1] + b"!")}).status_code == 422
    assert Merchant.objects.count() == 1


@pytest.mark.parametrize("other", [
    {"kind": "photo", "file": upload(PNG[:-1] + b"!")},
    {"kind": "photo", "file": upload(name="q.png")},
    {"kind": "photo", "file": upload(content_type="image/jpeg")},
    {"kind": "measurement", "file": upload()},
    {"kind": "photo", "attachment": upload()},
    {"kind": "photo", "file": [upload(), upload()]},
    {"kind": "photo"},
], ids=["other-content", "other-file-name", "other-declared-type", "other-field", "other-file-field",
        "one-more-file", "no-file"])
def test_a_multipart_with_other_meaning_is_422(consumer_client, other):
    assert multipart(consumer_client, "up-2", {"kind": "photo", "file": upload()}).status_code == 201
    response = multipart(consumer_client, "up-2", other)
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Merchant.objects.count() == 1


def test_the_order_of_multipart_fields_does_not_matter_but_the_order_of_one_fields_values_does(consumer_client):
    first = multipart(consumer_client, "up-order", {"a": "1", "b": ["x", "y"], "file": upload()})
    # encode_multipart writes the parts in dict order: the same fields in another order
    reordered = multipart(consumer_client, "up-order", {"file": upload(), "b": ["x", "y"], "a": "1"})
    assert reordered.content == first.content
    assert multipart(consumer_client, "up-order", {"a": "1", "b": ["y", "x"], "file": upload()}).status_code == 422
    assert Merchant.objects.count() == 1


def test_the_same_json_with_other_key_order_and_whitespace_replays(consumer_client):
    first = raw(consumer_client, "json-1", b'{"name": "first", "extra": {"b": 1, "a": [1, 2]}}', "application/json")
    assert first.status_code == 201
    again = raw(consumer_client, "json-1", b'{"extra":{"a":[1,2],"b":1},\n "name":"first"}',
                "application/json; charset=utf-8")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    other = raw(consumer_client, "json-1", b'{"name": "first", "extra": {"b": 1, "a": [2, 1]}}', "application/json")
    assert other.status_code == 422
    assert Merchant.objects.count() == 1


def test_unparseable_json_is_judged_by_its_bytes(consumer_client):
    first = raw(consumer_client, "bad-json", b'{"name": ', "application/json")
    assert first.status_code == 400  # DRF's parse error, kept like any 4xx
    assert raw(consumer_client, "bad-json", b'{"name": ', "application/json").content == first.content
    assert raw(consumer_client, "bad-json", b'{"name":  ', "application/json").status_code == 422


def test_a_urlencoded_form_is_judged_by_its_sorted_fields(consumer_client):
    form = "application/x-www-form-urlencoded"
    first = raw(consumer_client, "form-1", b"kind=photo&note=a&note=b", form, url=UPLOAD_URL)
    assert first.json()["fields"] == {"kind": ["photo"], "note": ["a", "b"]}
    assert raw(consumer_client, "form-1", b"note=a&kind=photo&note=b", form, url=UPLOAD_URL).content == first.content
    assert raw(consumer_client, "form-1", b"kind=photo&note=b&note=a", form, url=UPLOAD_URL).status_code == 422
    assert Merchant.objects.count() == 1


def test_json_and_a_form_with_the_same_fields_are_different_requests(consumer_client):
    assert raw(consumer_client, "kinds", b'{"kind": "photo"}', "application/json", url=UPLOAD_URL).status_code == 201
    form = raw(consumer_client, "kinds", b"kind=photo", "application/x-www-form-urlencoded", url=UPLOAD_URL)
    assert form.status_code == 422


def test_a_broken_multipart_body_is_a_400_and_claims_no_key(consumer_client):
    response = raw(consumer_client, "broken", b"--x\r\nnot a part", "multipart/form-data", url=UPLOAD_URL)
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert not IdempotencyKey.objects.exists() and Merchant.objects.count() == 0


def test_a_multipart_body_to_a_view_that_does_not_parse_one_is_still_415(consumer_client):
    response = multipart(consumer_client, "not-here", {"name": "x"}, url=URL)
    assert response.status_code == 415
    assert Merchant.objects.count() == 0


def test_both_parse_paths_give_one_fingerprint_and_leave_the_file_readable(db):
    def request(boundary):
        data = {"kind": "photo", "file": upload()}
        return RequestFactory().post(UPLOAD_URL, encode_multipart(boundary, data),
                                     content_type=f"multipart/form-data; boundary={boundary}")

    streamed = request("one")
    pre_parsed = request("two")
    assert pre_parsed.FILES["file"].name == "p.png"  # parsed before the middleware: hashed from the stored file
    assert _fingerprint(streamed) == _fingerprint(pre_parsed)
    assert _fingerprint(streamed).startswith("v2:") and len(_fingerprint(streamed)) <= 64
    assert streamed.FILES["file"].read() == pre_parsed.FILES["file"].read() == PNG


def test_a_key_stored_with_the_v1_raw_bytes_fingerprint_is_still_judged_by_it(consumer_client, consumer):
    """Keys stored before the fingerprint changed live 24 h more: their bytes fingerprint judges them."""
    body = b'{"name": "before-deploy"}'
    v1 = hashlib.sha256(b"POST" + URL.encode() + body).hexdigest()
    IdempotencyKey.objects.create(caller=f"user:{consumer.pk}", key="old", request_fingerprint=v1,
                                  state=IdempotencyKey.State.DONE, response_status=201,
                                  response_body=b'{"id": 1}', response_content_type="application/json")
    replay = raw(consumer_client, "old", body, "application/json")
    assert replay.status_code == 201 and replay.json() == {"id": 1} and replay["Idempotent-Replayed"] == "true"
    assert raw(consumer_client, "old", b'{"name": "other"}', "application/json").status_code == 422
    assert Merchant.objects.count() == 0
