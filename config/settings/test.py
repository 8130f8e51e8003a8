from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = env.path("MEDIA_ROOT", default="/tmp/stagedservice-test-media")  # noqa: S108
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# One process: the in-process cache is shared by everything a test does, so the token cache is on as in production.
API_TOKEN_CACHE_IN_PROCESS = True
STORE_VALUES_CACHE_IN_PROCESS = True
EVENT_KINDS_STRICT = True  # an undeclared event kind or payload key fails the test (workflows/events.py)
# A second connection to the test database, as a replica would be (Django's test MIRROR), for the replica router's
# tests; reads go there only where a test switches DATABASE_REPLICA_READS on (tests/core/test_replica.py).
if "replica" not in DATABASES:
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DATABASE_REPLICA_READS = False
