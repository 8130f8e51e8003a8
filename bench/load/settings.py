"""Settings of the load test's server and workers (bench/load/run.py): the product's settings as a deployment runs
them, on loopback: DEBUG off, persistent database connections, Redis as broker (LOAD_CELERY_BROKER_URL) and as the
shared cache (LOAD_CACHE_URL), real Celery workers (not eager), messages to the log backends at WARNING."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
for _db in DATABASES.values():
    _db["CONN_MAX_AGE"] = env.int("LOAD_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
CELERY_BROKER_URL = env("LOAD_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/11")
# The runner builds the data in its own process with the work done there and then (LOAD_EAGER=1), so the run
# starts with empty queues; the server and the workers queue and consume through Redis.
CELERY_TASK_ALWAYS_EAGER = env.bool("LOAD_EAGER", default=False)
CACHES = {"default": env.cache("LOAD_CACHE_URL", default="redis://127.0.0.1:6379/12")}
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
