"""Entries kept in the cache that a change must be able to drop in every process at once."""

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache


def shared_cache_seconds(seconds_setting: str, in_process_setting: str) -> int:
    """The setting `seconds_setting`, or 0 when the default cache lives in each process (another gunicorn worker
    would not hear of a change) unless `in_process_setting` says there is one process (the tests)."""
    ttl = int(getattr(settings, seconds_setting, 0))
    if ttl > 0 and not getattr(settings, in_process_setting, False) and isinstance(
            caches[DEFAULT_CACHE_ALIAS], (LocMemCache, DummyCache)):
        return 0
    return ttl
