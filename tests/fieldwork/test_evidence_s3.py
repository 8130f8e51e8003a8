"""Evidence in an S3-compatible bucket (MEDIA_STORAGE=s3: config/media.py, django-storages): uploaded through the
technician's endpoint it lands in the bucket under its server-chosen name and nowhere on disk, comes back byte for
byte through the download endpoint, and a file gone from the bucket answers 404 as one gone from disk does.

The bucket is moto's S3 server on loopback, which answers boto3's signed requests as S3 does; the storage is
configured from the environment by the very function the settings call.
"""

import socket
import uuid

import boto3
import environ
import pytest
from moto.server import ThreadedMotoServer

from config.media import media_storage
from fieldwork.models import Evidence
from tests.factories.fieldwork import image_bytes
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload

pytestmark = pytest.mark.django_db
KEY, SECRET, REGION = "test-access-key", "test-secret-key", "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch, tmp_path):
    name = f"media-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET)
    client.create_bucket(Bucket=name)
    for var, value in {"MEDIA_STORAGE": "s3", "MEDIA_S3_BUCKET": name, "MEDIA_S3_ENDPOINT_URL": s3_endpoint,
                       "MEDIA_S3_REGION": REGION, "MEDIA_S3_ACCESS_KEY_ID": KEY,
                       "MEDIA_S3_SECRET_ACCESS_KEY": SECRET}.items():
        monkeypatch.setenv(var, value)
    settings.STORAGES = {**settings.STORAGES, "default": media_storage(environ.Env())}
    settings.MEDIA_ROOT = str(tmp_path / "media-on-disk")
    return client, name


def test_evidence_goes_to_the_bucket_and_comes_back_through_the_api(bucket, tech, visit, consumer, client_for,
                                                                     tmp_path):
    client, name = bucket
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201
    data = image_bytes("PNG", color=(200, 30, 90))
    response = photo_upload(tech, visit, data=data)
    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get(pk=response.json()["id"])

    key = f"media/{evidence.file.name}"
    assert evidence.file.name.startswith(f"evidence/{visit.order_id}/")
    assert client.get_object(Bucket=name, Key=key)["Body"].read() == data
    assert not (tmp_path / "media-on-disk").exists()  # nothing written on this machine's disk

    download = client_for(consumer).get(f"/api/v1/orders/{visit.order_id}/evidence/{evidence.pk}/file/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data

    client.delete_object(Bucket=name, Key=key)
    gone = client_for(consumer).get(f"/api/v1/orders/{visit.order_id}/evidence/{evidence.pk}/file/")
    assert gone.status_code == 404 and gone.json()["code"]


def test_an_unknown_media_storage_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("MEDIA_STORAGE", "ftp")
    with pytest.raises(ImproperlyConfigured):
        media_storage(environ.Env())
    monkeypatch.delenv("MEDIA_STORAGE")
    assert media_storage(environ.Env())["BACKEND"] == "django.core.files.storage.FileSystemStorage"
