"""config.settings.production: deploy checks are clean, and it refuses to start without secrets."""

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def manage(*args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        **env_vars,
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def random_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def key_env(**overrides: str) -> dict[str, str]:
    """The keys production requires besides the secret key and hosts."""
    keys = {
        "VOUCHER_LOOKUP_KEY": secrets.token_urlsafe(32),
        "VOUCHER_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "SANDBOX_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "PAYMENT_ACCOUNT_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "SITE_URL": "https://service.example.com",
    }
    keys.update(overrides)
    return {k: v for k, v in keys.items() if v}


@pytest.fixture
def no_dotenv_secret():
    dotenv = BASE_DIR / ".env"
    if dotenv.exists() and "DJANGO_SECRET_KEY" in dotenv.read_text():
        pytest.skip(".env provides DJANGO_SECRET_KEY, so the missing-secret case cannot be run here")


def test_check_deploy_is_clean():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com", **key_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr and "security.W" not in result.stderr + result.stdout
    assert "no issues" in result.stdout


PRINT_SETTINGS = "from django.conf import settings as s; print('SETTINGS', s.DEBUG, s.SECURE_SSL_REDIRECT)"


def test_debug_cannot_be_switched_on_in_production():
    result = manage(
        "shell", "-c", PRINT_SETTINGS,
        DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com", DJANGO_DEBUG="true",
        **key_env(),
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("SETTINGS"))
    assert line.split() == ["SETTINGS", "False", "True"]


def test_refuses_to_start_without_a_secret_key(no_dotenv_secret):
    result = manage("check", DJANGO_ALLOWED_HOSTS="example.com", **key_env())
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_refuses_to_start_without_allowed_hosts(no_dotenv_secret):
    result = manage("check", DJANGO_SECRET_KEY=random_secret_key(), **key_env())
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("missing", ["VOUCHER_LOOKUP_KEY", "VOUCHER_ENCRYPTION_KEY", "SANDBOX_WEBHOOK_SECRET",
                                     "PAYMENT_ACCOUNT_ENCRYPTION_KEY", "SITE_URL"])
def test_refuses_to_start_without_voucher_and_webhook_keys(missing):
    result = manage(
        "check", DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com", **key_env(**{missing: ""})
    )
    assert result.returncode != 0
    assert missing in result.stderr


def test_refuses_a_site_url_that_is_not_https():
    """SMS links and the payment providers' notify and return addresses are built on SITE_URL."""
    result = manage(
        "check", DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com",
        **key_env(SITE_URL="http://service.example.com"),
    )
    assert result.returncode != 0
    assert "SITE_URL must be the service's absolute https:// address" in result.stderr


PRINT_DB = (
    "from django.conf import settings as s; d = s.DATABASES['default']; "
    "print('DB', d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], d['OPTIONS'].get('server_side_binding'), "
    "d['OPTIONS'].get('prepare_threshold'))"
)


@pytest.mark.parametrize("threshold, expected", [(None, "1"), ("none", "None"), ("5", "5")])
def test_postgresql_connections_persist_and_prepare_statements(threshold, expected):
    """Prepared statements only pay off on a connection that outlives the request; a transaction-mode pooler
    (DATABASE_PREPARE_THRESHOLD=none) turns them off."""
    extra = {"DATABASE_PREPARE_THRESHOLD": threshold} if threshold else {}
    result = manage(
        "shell", "-c", PRINT_DB,
        DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="postgres://app@db.example.com:5432/service", **extra, **key_env(),
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("DB"))
    assert line.split() == ["DB", "60", "True", "True", expected]


PRINT_OPTIONS = ("from django.conf import settings as s; "
                 "print('OPTS', repr(s.DATABASES['default']['OPTIONS'].get('options')))")


@pytest.mark.parametrize("mode, expected", [(None, "'-c plan_cache_mode=force_custom_plan'"),
                                            ("auto", "'-c plan_cache_mode=auto'"),
                                            ("force_custom_plan", "'-c plan_cache_mode=force_custom_plan'")])
def test_postgresql_statements_are_planned_for_their_own_values(mode, expected):
    """A prepared statement switched to PostgreSQL's generic plan made the SLA scan take 23-41 s at 10^6 orders
    (docs/performance.md); by default each execution is planned for its values, `auto` restores PostgreSQL's."""
    extra = {"DATABASE_PLAN_CACHE_MODE": mode} if mode is not None else {}
    result = manage(
        "shell", "-c", PRINT_OPTIONS,
        DJANGO_SECRET_KEY=random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="postgres://app@db.example.com:5432/service", **extra, **key_env(),
    )
    assert result.returncode == 0, result.stderr
    assert next(line for line in result.stdout.splitlines() if line.startswith("OPTS")) == f"OPTS {expected}"
