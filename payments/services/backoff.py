"""Asking a provider again, twice as late each time it answers "not yet" (pending refunds, payments whose
notification has not come)."""

from __future__ import annotations

from datetime import timedelta


def doubling_delay(answers: int, *, base_minutes: int, max_minutes: int) -> timedelta:
    """After `answers` "not yet" answers: base, doubled with each answer after the first, at most max
    (5, 10, 20 ... minutes)."""
    doublings = min(max(answers - 1, 0), 30)  # 2**30 times any base is past every cap
    return timedelta(minutes=min(base_minutes * 2**doublings, max_minutes))
