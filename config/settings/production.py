"""Production: no defaults for secrets, HTTPS everywhere. `manage.py check --deploy` is clean."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# Persistent connections (checked before reuse): a connection per request would pay the connect on every
# request and lose the prepared statements of config/settings/base.py.
for _db in DATABASES.values():  # default, and the read replica when there is one
    _db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Keys that protect money and vouchers: no defaults in production, the process refuses to start.
VOUCHER_LOOKUP_KEY = env("VOUCHER_LOOKUP_KEY")
VOUCHER_ENCRYPTION_KEY = env("VOUCHER_ENCRYPTION_KEY")
SANDBOX_WEBHOOK_SECRET = env("SANDBOX_WEBHOOK_SECRET")
PAYMENT_ACCOUNT_ENCRYPTION_KEY = env("PAYMENT_ACCOUNT_ENCRYPTION_KEY")

# Links in SMS (the tracking page) and the addresses Alipay and WeChat Pay send notifications and consumers back
# to are built on it: a relative link is useless in an SMS and the providers refuse one, so it is required.
SITE_URL = env("SITE_URL")
if not SITE_URL.startswith("https://"):
    raise ImproperlyConfigured("SITE_URL must be the service's absolute https:// address, e.g. https://service.example.com")
