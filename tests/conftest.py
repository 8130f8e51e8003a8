"""Shared fixtures: one user per role for tenant A and tenant B, and API clients for them.

Tenant A: `merchant` with `store` and `store2`; `merchant_admin`, `store_manager` (of `store`),
`technician` and `technician2` (of `store`). Tenant B: `other_merchant` with `other_store`,
`other_admin`, `other_store_manager`, `other_technician`. Consumers and the operator belong to no
merchant.
"""

import os
from datetime import datetime

import pytest
import time_machine
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import (
    ConsumerFactory,
    MerchantAdminFactory,
    MerchantFactory,
    OperatorFactory,
    StoreFactory,
    StoreManagerFactory,
    TechnicianFactory,
)


# --- the clock ---------------------------------------------------------------------------------
def pytest_configure(config):
    """TEST_CLOCK=<ISO date-time with offset>: the whole run starts at that instant and ticks on (time-machine), so
    CI proves the suite holds at the hours that matter (before the stores open, at their midnight) whatever hour
    it runs: the demo once failed only when loaded before its store opened."""
    # The catalogues as they are in the repository (a .po edited since the last bootstrap is what is tested).
    from core import catalogues

    catalogues.compile_all()
    catalogues.reset_loaded_translations()
    if when := os.environ.get("TEST_CLOCK"):
        traveller = time_machine.travel(datetime.fromisoformat(when), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


# --- markers -----------------------------------------------------------------------------------
def _celery_broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or getattr(django_settings, "CELERY_BROKER_URL", "") or ""


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip(
                f"needs PostgreSQL (row locks / real concurrency); the database is {connection.vendor}. "
                "Run with DATABASE_URL=postgres://..."
            )
    if item.get_closest_marker("celery_worker") and (
        os.environ.get("CELERY_INTEGRATION") != "1" or not _celery_broker_url()
    ):
        pytest.skip("needs a real Celery worker: set CELERY_INTEGRATION=1 and CELERY_BROKER_URL")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_join_guard_clear():
    """Celery marks "inside a task" (where result.get() refuses to run) in one process-wide flag that every eager
    task sets and then restores to what it saw. Two eager tasks overlapping in two threads (the live server's, a
    race test's) can restore it to "inside" for good: a later test's `.delay().get()` then fails with "Never call
    result.get() within a task!" (seen once in CI, on PostgreSQL). No test inherits that flag: each runs with
    it cleared (Celery's own allow_join_result)."""
    from celery.result import allow_join_result

    with allow_join_result():
        yield


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Uploaded files go to a per-session temporary directory, never the project's media/."""
    settings.MEDIA_ROOT = str(tmp_path_factory.getbasetemp() / "media")


# --- language ----------------------------------------------------------------------------------
@pytest.fixture
def english(settings):
    """For tests that read English wording: the service's default language (Simplified Chinese) becomes English,
    for requests without Accept-Language and for messages alike."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


# --- clients -----------------------------------------------------------------------------------
@pytest.fixture
def api_client():
    """A factory of fresh, unauthenticated API clients: `api_client()`."""
    return APIClient


@pytest.fixture
def client_for(db):
    """`client_for(user)`: an APIClient sending `Authorization: Token <key>` for that user."""

    def make(user) -> APIClient:
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.user = user
        return client

    return make


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def admin_client_api(client_for, merchant_admin):
    return client_for(merchant_admin)


@pytest.fixture
def manager_client(client_for, store_manager):
    return client_for(store_manager)


@pytest.fixture
def technician_client(client_for, technician):
    return client_for(technician)


@pytest.fixture
def consumer_client(client_for, consumer):
    return client_for(consumer)


@pytest.fixture
def operator_client(client_for, operator):
    return client_for(operator)


# --- tenant A ----------------------------------------------------------------------------------
@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Lumen Test Furniture", slug="lumen-test", tier="enterprise")


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, name="Lumen Jing'an", code="jingan")


@pytest.fixture
def store2(merchant):
    return StoreFactory(merchant=merchant, name="Lumen Pudong", code="pudong")


@pytest.fixture
def merchant_admin(merchant):
    return MerchantAdminFactory(username="a_admin", merchant=merchant)


@pytest.fixture
def store_manager(store):
    return StoreManagerFactory(username="a_manager", stores=[store])


@pytest.fixture
def technician(store):
    return TechnicianFactory(username="a_tech", stores=[store])


@pytest.fixture
def technician2(store):
    return TechnicianFactory(username="a_tech2", stores=[store])


@pytest.fixture
def consumer(db):
    return ConsumerFactory(username="a_consumer")


@pytest.fixture
def consumer2(db):
    return ConsumerFactory(username="a_consumer2")


@pytest.fixture
def operator(db):
    return OperatorFactory(username="ops_user")


# --- tenant B ----------------------------------------------------------------------------------
@pytest.fixture
def other_merchant(db):
    return MerchantFactory(name="Harbor Test Appliances", slug="harbor-test", tier="enterprise")


@pytest.fixture
def other_store(other_merchant):
    return StoreFactory(merchant=other_merchant, name="Harbor West Lake", code="westlake")


@pytest.fixture
def other_admin(other_merchant):
    return MerchantAdminFactory(username="b_admin", merchant=other_merchant)


@pytest.fixture
def other_store_manager(other_store):
    return StoreManagerFactory(username="b_manager", stores=[other_store])


@pytest.fixture
def other_technician(other_store):
    return TechnicianFactory(username="b_tech", stores=[other_store])


@pytest.fixture
def other_consumer(db):
    return ConsumerFactory(username="b_consumer")


@pytest.fixture(autouse=True)
def _fresh_engine_cache():
    """The engine caches machine specs per template version id; a rolled-back test database reuses ids."""
    from workflows.engine import clear_caches

    clear_caches()
    yield
    clear_caches()
