"""Planner settings for a stretch of work, on PostgreSQL (elsewhere a no-op)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

# For short indexed reads that PostgreSQL misjudges: the open subjects of the SLA scan, read from partial indexes
# over skewed data, are estimated at tens of thousands of rows where there are none or a few. On that estimate it
# starts two parallel workers (their start-up alone was 5 ms of a 7 ms read that found nothing) and compiles the
# plan (JIT: 220 ms for a read of 9 rows), both at 10^6 orders (docs/performance.md).
SHORT_READS = {"max_parallel_workers_per_gather": "0", "jit": "off"}


@contextmanager
def plans_for_short_reads(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """The statements inside are planned without parallel workers or JIT. Inside a transaction the settings end with
    it (SET LOCAL); outside, they are put back after (behind a transaction-mode pooler, possibly on another server
    connection: planner settings only, so slower at worst; docs/operations.md)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    local = connection.in_atomic_block
    names = list(SHORT_READS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, %s)"] * len(names)),
                       [x for name in names for x in (name, SHORT_READS[name], local)])
    try:
        yield
    finally:
        if not local:
            with connection.cursor() as cursor:  # (pg_settings, to do it in one, costs a millisecond)
                for name in names:
                    cursor.execute(f"RESET {name}")
