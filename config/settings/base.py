"""Settings shared by every mode. Everything that differs per deployment comes from the environment.

With nothing set, the service runs embedded: SQLite and Celery in eager mode.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF

from config.media import media_storage

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-secret-key-change-me-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "tenancy",
    "core",
    "workflows",
    "payments",
    "vouchers",
    "fieldwork",
    "notifications",
    "insights",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Accept-Language, else LANGUAGE_CODE; a logged-in person's own setting wins (UserLanguageMiddleware, and
    # the API's token authentication, which runs later: core/language.py).
    "django.middleware.locale.LocaleMiddleware",
    "core.middleware.ApiPathMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.language.UserLanguageMiddleware",
    "core.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A read replica (PostgreSQL streaming replication, or a managed service's read endpoint): the dashboard and the
# metrics read from it (core/replica.py), everything else from `default`. DATABASE_REPLICA_READS=false stops
# reading it (a replica lagging too far) without removing it.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
DATABASE_REPLICA_READS = env.bool("DATABASE_REPLICA_READS", default=True)
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
_threshold = env("DATABASE_PREPARE_THRESHOLD", default="1")
_plan_cache_mode = env("DATABASE_PLAN_CACHE_MODE", default="force_custom_plan")
for _db in DATABASES.values():
    _db["ATOMIC_REQUESTS"] = False
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        # Let concurrent demo requests wait for the write lock instead of failing at once.
        _db.setdefault("OPTIONS", {})["timeout"] = 20
    elif _db["ENGINE"] == "django.db.backends.postgresql":
        # Server-side parameters and prepared statements: PostgreSQL parses and plans each statement once per
        # connection instead of on every execution (an in-process A/B of the engine, docs/performance.md: a stage
        # transition 11.2 -> 8.7 ms). Django leaves preparing off for transaction-mode poolers: set
        # DATABASE_PREPARE_THRESHOLD=none behind PgBouncer < 1.21 (or one without max_prepared_statements).
        _db.setdefault("OPTIONS", {}).update(
            server_side_binding=env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
            prepare_threshold=None if _threshold.lower() == "none" else int(_threshold),
        )
        # Prepared, but planned for each execution's values: after five executions PostgreSQL may switch a
        # prepared statement to one generic plan, which for a range over skewed data is a disaster (the SLA scan's
        # stage candidates at 10^6 orders: 70 ms for five runs on one connection, then 23-41 s per run:
        # docs/performance.md). Sent as a startup option; DATABASE_PLAN_CACHE_MODE=auto is PostgreSQL's default; set
        # it empty behind a pooler that refuses startup options, and set it on the database role instead.
        if _plan_cache_mode:
            _options = _db["OPTIONS"].get("options", "")
            _db["OPTIONS"]["options"] = f"{_options} -c plan_cache_mode={_plan_cache_mode}".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenancy.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Simplified Chinese first, English kept (docs/i18n.md). Each language is named in its own words (a picker).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# Each app keeps its own catalogue (<app>/locale/); this one holds the strings of config/ and wording of Django's
# or DRF's own that the glossary changes. Compiled by `manage.py translations compile` (scripts/bootstrap.sh).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# Uploaded files: under MEDIA_ROOT, or with MEDIA_STORAGE=s3 in an S3-compatible bucket (MEDIA_S3_BUCKET,
# MEDIA_S3_ENDPOINT_URL, MEDIA_S3_REGION, MEDIA_S3_ACCESS_KEY_ID, MEDIA_S3_SECRET_ACCESS_KEY, MEDIA_S3_PREFIX):
# config/media.py, docs/operations.md.
STORAGES = {
    "default": media_storage(env),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "transitions": {"level": "WARNING"}},
}

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON in (api-contract.md); the upload endpoints declare multipart themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": env("LOGIN_THROTTLE_RATE", default="10/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # `?format=` is ours (the diagram endpoint's svg|mermaid), not content negotiation.
    "URL_FORMAT_OVERRIDE": None,
}

# An API token works this long after it was issued (a technician's phone or a consumer's app logs in
# again about once a month); then 401 `token_expired` and it is deleted. core.authentication.
API_TOKEN_TTL = timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=30 * 24))
# A token's look-up is kept in the cache this long (core.authentication), dropped at once when the token or its user
# changes. Used only with a cache every process shares (CACHE_URL, e.g. Redis): with the in-process default another
# worker would not hear of a logout until the entry expired (API_TOKEN_CACHE_IN_PROCESS allows it for one process).
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=60)
API_TOKEN_CACHE_IN_PROCESS = False
# The store's values an order uses (workflows.store_values), kept in the cache until a distribution, bounds or a
# merchant changes; only with a cache every process shares, as the token's (STORE_VALUES_CACHE_IN_PROCESS: one process).
STORE_VALUES_CACHE_SECONDS = env.int("STORE_VALUES_CACHE_SECONDS", default=300)
STORE_VALUES_CACHE_IN_PROCESS = False

SPECTACULAR_SETTINGS = {
    "TITLE": "Staged service-fulfillment API",
    "DESCRIPTION": "Workflow templates, service orders, staged payments, e-vouchers and the technician API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from validator.swagger.io: the CSP allows images from this origin only.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Several models have a `state` or `status`; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "StageStateEnum": "workflows.models.StageInstance.State",
        "AppointmentStateEnum": "workflows.models.Appointment.State",
        "OrderStatusEnum": "workflows.models.ServiceOrder.Status",
        "TemplateVersionStatusEnum": "workflows.models.TemplateVersion.Status",
        "InstallmentStateEnum": "payments.models.Installment.State",
        "VoucherStateEnum": "vouchers.models.Voucher.State",
        "SubmissionFileContentTypeEnum": "workflows.services.SUBMISSION_STORED_TYPES",
        "PaymentChannelEnum": "payments.channels.CHANNEL_NAMES",
        "CurrencyEnum": "core.money.currencies",
    },
}

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker that is down or stalled must not hold up the request that queues work after its commit
# (redis-py waits forever on a silent socket by default): bounded socket timeouts and few publish
# retries. What could not be queued stays in its outbox (notifications) for the relay. The transport
# options can be replaced as JSON in the environment (e.g. a short visibility_timeout in tests).
CELERY_BROKER_TRANSPORT_OPTIONS = env.json(
    "CELERY_BROKER_TRANSPORT_OPTIONS", default={"socket_connect_timeout": 2, "socket_timeout": 5}
)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TIMEZONE = TIME_ZONE
# Every periodic job of the service, in one place (run with `celery -A config beat`). Each task is
# idempotent and works in batches, so a missed or doubled run does no harm.
CELERY_BEAT_SCHEDULE: dict = {
    "scan-sla-breaches": {"task": "insights.tasks.scan_sla_breaches", "schedule": 300.0},
    "escalate-sla-breaches": {"task": "insights.tasks.escalate_sla_breaches", "schedule": 300.0},
    "roll-up-days": {"task": "insights.tasks.roll_up_days", "schedule": 900.0},
    "relay-pending-notifications": {"task": "notifications.tasks.relay_pending_notifications", "schedule": 60.0},
    "send-visit-reminders": {"task": "notifications.tasks.send_visit_reminders", "schedule": 600.0},
    "expire-vouchers": {"task": "vouchers.tasks.expire_vouchers", "schedule": 900.0},
    "remind-expiring-vouchers": {"task": "vouchers.tasks.remind_expiring_vouchers", "schedule": 3600.0},
    "purge-redeem-failure-counters": {"task": "vouchers.tasks.purge_redeem_failure_counters", "schedule": 3600.0},
    "expire-stale-payments": {"task": "payments.tasks.payments_expire_stale_task", "schedule": 900.0},
    "resubmit-stale-refunds": {"task": "payments.tasks.refunds_resubmit_stale_task", "schedule": 300.0},
    "query-pending-payments": {"task": "payments.tasks.payments_query_pending_task", "schedule": 60.0},
    # Yesterday's payments and refunds compared with the providers' answers, at 03:30 (CELERY_TIMEZONE).
    "reconcile-payments": {"task": "payments.tasks.payments_reconcile_yesterday_task",
                           "schedule": crontab(hour=3, minute=30)},
    "retry-outbound-webhooks": {"task": "insights.tasks.retry_webhook_deliveries", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "core.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "purge-client-events": {"task": "fieldwork.tasks.client_events_purge_task", "schedule": 86400.0},
}
# Queues by kind of work, so a flood of one kind cannot starve another: run a worker per queue (README, "Workers
# and queues"), e.g. a burst of 10,000 notifications then never delays a refund. Every task of the service is
# routed here (tests/core/test_celery_routes.py fails on one that is not); the periodic jobs all go to "periodic"
# (each is a scan that queues its per-item work, e.g. a webhook retry, to that work's own queue).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "payments.tasks.refund_submit_task": {"queue": "payments"},
    "payments.tasks.refund_unowed_payment_task": {"queue": "payments"},
    "payments.tasks.payment_reconcile_task": {"queue": "payments"},
    "notifications.tasks.deliver_notification": {"queue": "notifications"},
    "notifications.tasks.dispatch_notifications": {"queue": "notifications"},
    "insights.tasks.deliver_webhook": {"queue": "webhooks"},
    **{job["task"]: {"queue": "periodic"} for job in CELERY_BEAT_SCHEDULE.values()},
}

# --- Domain ----------------------------------------------------------------
# SLA escalation (insights/escalation.py): a breach still unresolved this many hours after the store's managers were
# told goes to the brand's admins (a brand may set its own delay in the admin), and this many hours after that to the
# platform's operators.
INSIGHTS_ESCALATE_BRAND_AFTER_HOURS = env.int("INSIGHTS_ESCALATE_BRAND_AFTER_HOURS", default=4)
INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS = env.int("INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS", default=24)
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="CNY")
# Decimal places per ISO 4217 currency; anything absent uses 2.
CURRENCY_DECIMALS = {"CNY": 2, "USD": 2, "EUR": 2, "JPY": 0, "KRW": 0}
# Phone numbers are stored in E.164 (tenancy/phones.py); one typed without a country code is read in this
# region (ISO 3166 alpha-2): with "CN", "13800000001" is +8613800000001.
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="CN").upper()
IDEMPOTENCY_KEY_TTL = timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24))
# Longer than any request may run (gunicorn kills a worker after 30 s by default).
IDEMPOTENCY_CLAIM_LEASE = timedelta(seconds=env.int("IDEMPOTENCY_CLAIM_LEASE_SECONDS", default=300))
# Each file store staff attach to an off-site stage (POST /stages/{id}/submit/, at most 10 a request): a PDF or a
# JPEG/PNG/WebP image of at most this size.
SUBMISSION_MAX_BYTES = env.int("SUBMISSION_MAX_BYTES", default=20 * 1024 * 1024)
# A consumer's drawn approval signature (a PNG): at most this many bytes and pixels a side.
SIGNATURE_MAX_BYTES = env.int("SIGNATURE_MAX_BYTES", default=512 * 1024)
SIGNATURE_MAX_PX = env.int("SIGNATURE_MAX_PX", default=2000)

# --- appointments (workflows app) -----------------------------------------------
# How far ahead visits can be booked: the slots listing offers windows from now to the store's closing
# time this many days after today (store's time zone), and booking or moving a visit to a later window is
# refused (400 on window_start).
APPOINTMENT_BOOKING_HORIZON_DAYS = env.int("APPOINTMENT_BOOKING_HORIZON_DAYS", default=14)
# How many times the consumer may move one visit; after that: 409 `reschedule_limit` (the store's staff
# can still move it, e.g. when a technician falls ill).
APPOINTMENT_MAX_RESCHEDULES = env.int("APPOINTMENT_MAX_RESCHEDULES", default=3)

# --- payments (payments app) --------------------------------------------------
# The sandbox channel (no money moves) is offered to every brand while this is on: the demo's default, and the
# channel a pay that names none uses. Turn it off where real money is taken (docs/payments.md).
PAYMENT_SANDBOX_ENABLED = env.bool("PAYMENT_SANDBOX_ENABLED", default=True)
# The real providers' gateways (their own sandboxes, or local test servers, can stand in) and how long a call to
# them may take.
ALIPAY_GATEWAY_URL = env("ALIPAY_GATEWAY_URL", default="https://openapi.alipay.com/gateway.do")
WECHATPAY_API_BASE_URL = env("WECHATPAY_API_BASE_URL", default="https://api.mch.weixin.qq.com")
PAYMENT_PROVIDER_TIMEOUT_SECONDS = env.int("PAYMENT_PROVIDER_TIMEOUT_SECONDS", default=15)
# Brands' private keys and WeChat Pay APIv3 keys are encrypted with this (Fernet keys, comma-separated, newest
# first); empty: derived from SECRET_KEY (local, test). Production requires it.
PAYMENT_ACCOUNT_ENCRYPTION_KEY = env("PAYMENT_ACCOUNT_ENCRYPTION_KEY", default="")
# An attempt at a real provider whose notification has not come is asked of the provider this long after it
# started, then twice as late after each "still waiting" answer, at most PAYMENT_QUERY_MAX_MINUTES apart
# (payments_query_pending_task); PAYMENT_ATTEMPT_TTL_MINUTES after it started it is asked once more and expires.
PAYMENT_QUERY_AFTER_MINUTES = env.int("PAYMENT_QUERY_AFTER_MINUTES", default=5)
PAYMENT_QUERY_MAX_MINUTES = env.int("PAYMENT_QUERY_MAX_MINUTES", default=60)
PAYMENT_ATTEMPT_TTL_MINUTES = env.int("PAYMENT_ATTEMPT_TTL_MINUTES", default=30)
SANDBOX_WEBHOOK_SECRET = env("SANDBOX_WEBHOOK_SECRET", default="sandbox-webhook-secret-local-only")
WEBHOOK_TOLERANCE_SECONDS = env.int("WEBHOOK_TOLERANCE_SECONDS", default=300)
# A pending refund is asked of the provider again after this long without an answer (refunds_resubmit_stale_task),
# twice as long after each time it is asked, up to REFUND_RESUBMIT_MAX_MINUTES between two asks...
REFUND_RESUBMIT_AFTER_MINUTES = env.int("REFUND_RESUBMIT_AFTER_MINUTES", default=5)
REFUND_RESUBMIT_MAX_MINUTES = env.int("REFUND_RESUBMIT_MAX_MINUTES", default=360)
# ...and the store is told (refund.stuck, once) when it is still pending this long after it was made.
REFUND_STUCK_AFTER_HOURS = env.int("REFUND_STUCK_AFTER_HOURS", default=24)
# Absolute base URL used in links handed to people (checkout, tracking); empty = relative links.
SITE_URL = env("SITE_URL", default="")

# --- vouchers (vouchers app) --------------------------------------------------
# Keys for the voucher code lookup hash and for encrypting codes at rest. Local default is
# derived from SECRET_KEY by the vouchers app; production requires both from the environment.
VOUCHER_LOOKUP_KEY = env("VOUCHER_LOOKUP_KEY", default="")
VOUCHER_ENCRYPTION_KEY = env("VOUCHER_ENCRYPTION_KEY", default="")
VOUCHER_REDEEM_FAILURES_PER_MINUTE = env.int("VOUCHER_REDEEM_FAILURES_PER_MINUTE", default=5)
VOUCHER_REDEEM_FAILURES_PER_HOUR = env.int("VOUCHER_REDEEM_FAILURES_PER_HOUR", default=100)

# --- field work (fieldwork app) ---------------------------------------------------
CHECKIN_RADIUS_METERS = env.int("CHECKIN_RADIUS_METERS", default=300)
# A check-in recorded earlier than this before the visit's window is refused (409 too_early): it would start the
# stage, e.g. tomorrow's visit tapped by mistake. Arriving within it is early, and on time.
CHECKIN_EARLIEST_MINUTES = env.int("CHECKIN_EARLIEST_MINUTES", default=120)
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=10 * 1024 * 1024)
DEVICE_CLOCK_SKEW_SECONDS = env.int("DEVICE_CLOCK_SKEW_SECONDS", default=300)
DEVICE_MAX_OFFLINE_DAYS = env.int("DEVICE_MAX_OFFLINE_DAYS", default=7)
LATE_SYNC_FLAG_HOURS = env.int("LATE_SYNC_FLAG_HOURS", default=72)

# --- notifications (notifications app) --------------------------------------------
SMS_BACKEND = env("SMS_BACKEND", default="notifications.sms.LoggingSMSBackend")
# Alibaba Cloud SMS (notifications.sms_aliyun; docs/operations.md "SMS in China"). TEMPLATES: JSON, message kind ->
# {"code": "SMS_...", "params": {template variable: message variable}}. Checked at start when it is SMS_BACKEND.
ALIYUN_SMS = {
    "ACCESS_KEY_ID": env("ALIYUN_SMS_ACCESS_KEY_ID", default=""),
    "ACCESS_KEY_SECRET": env("ALIYUN_SMS_ACCESS_KEY_SECRET", default=""),
    "SIGN_NAME": env("ALIYUN_SMS_SIGN_NAME", default=""),
    "ENDPOINT": env("ALIYUN_SMS_ENDPOINT", default="dysmsapi.aliyuncs.com"),
    "PROTOCOL": env("ALIYUN_SMS_PROTOCOL", default="https"),
    "TEMPLATES": env.json("ALIYUN_SMS_TEMPLATES", default={}),
}
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="service@example.com")

# --- security headers (every mode; production adds HTTPS, HSTS and secure cookies) ------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and fetches only from this
# origin, nothing inline (the pages' CSS and the Swagger UI's init script are static files), no eval, no
# plugins, no framing, no <base> rewriting. `data:` images are the Swagger UI's CSS icons; the QR codes on the
# tracking page are inline SVG elements, which need no source. Forms post to this origin, and the tracking page's
# Pay form redirects to Alipay's gateway or WeChat Pay's H5 cashier (PAYMENT_FORM_ORIGINS); another provider's
# checkout must be added with CSP_FORM_ACTION (comma-separated origins).
_alipay = urlsplit(ALIPAY_GATEWAY_URL)
PAYMENT_FORM_ORIGINS = [f"{_alipay.scheme}://{_alipay.netloc}", "https://wx.tenpay.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *PAYMENT_FORM_ORIGINS, *env.list("CSP_FORM_ACTION", default=[])],
    },
}
# Uploads (evidence photos, design drafts) are kept out of memory above this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
