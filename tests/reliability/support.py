"""Helpers of the reliability tests."""

from __future__ import annotations

import time
from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (for worker processes)."""
    s = connection.settings_dict
    user = quote(s.get("USER") or "postgres", safe="")
    password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def wait_for(predicate, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
