"""Where uploaded files live (settings.STORAGES["default"]), chosen by the environment.

Files (technicians' evidence, design drafts) are read back only through the storage (core/files.py), so they can
live anywhere Django's storage API reaches. MEDIA_STORAGE=filesystem (the default) keeps them under MEDIA_ROOT,
which every web and worker machine must then share; MEDIA_STORAGE=s3 keeps them in an S3-compatible bucket (AWS
S3, MinIO, Ceph, a cloud's S3 API) through django-storages, so the machines share nothing on disk.
"""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured


def media_storage(env: environ.Env) -> dict:
    kind = env("MEDIA_STORAGE", default="filesystem")
    if kind == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(f"MEDIA_STORAGE must be 'filesystem' or 's3', not {kind!r}")
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": env("MEDIA_S3_BUCKET"),
        "location": env("MEDIA_S3_PREFIX", default="media"),
        "endpoint_url": env("MEDIA_S3_ENDPOINT_URL", default=None),  # unset: AWS itself
        "region_name": env("MEDIA_S3_REGION", default=None),
        # Unset: boto3's own chain (an instance or pod role, AWS_* variables, ~/.aws).
        "access_key": env("MEDIA_S3_ACCESS_KEY_ID", default=None),
        "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY", default=None),
        "default_acl": None,  # private objects: files go out only through the API's permission checks
        "querystring_auth": True,
        # Stored names are server-chosen UUIDs (upload_to), so no upload can overwrite another: skip the check.
        "file_overwrite": True,
    }}
