"""Settings for the benchmark server: the product's settings with DEBUG off, loopback hosts and
the bench urlconf (the product's URLs plus the minimal `bench/ping/` endpoint)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
# Persistent connections, as a deployment would run them (the product's settings leave Django's
# default of one new connection per request). The same for every endpoint measured.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_CONN_MAX_AGE", default=60)
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# Work queued after a commit goes to a broker, as in a deployment (with the product's eager default,
# every notification would be rendered and sent inside the measured request). The queue is the
# bench's own, so no worker of anyone else picks it up; bench/run.py deletes it at the end.
CELERY_BROKER_URL = env("BENCH_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = "bench_core"
CELERY_TASK_ROUTES: dict = {}  # every task to that queue, not to the product's queues by kind
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
# A shared cache, as a deployment with several workers runs it (the order detail is cached per version
# and viewer); the product's default is in-process memory.
CACHES = {"default": env.cache("BENCH_CACHE_URL", default="redis://127.0.0.1:6379/14")}
# The check-in runs check in to visits booked from tomorrow on (hundreds of them, a window per technician): the
# too-early rule (one comparison) would refuse them all.
CHECKIN_EARLIEST_MINUTES = 60 * 24 * 365
