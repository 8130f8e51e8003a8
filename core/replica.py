"""Reads that may come from a read replica: the platform's dashboard and metrics, which aggregate over the whole
history and can stand a replica's lag of a second or so.

`DATABASE_REPLICA_URL` (config/settings/base.py) adds the database alias `replica`; `ReplicaRouter` (in
DATABASE_ROUTERS) sends a read there only inside `replica_reads()`, a context manager that is also a decorator:

    @replica_reads()
    def get(self, request): ...

Everything else reads and writes `default`, as do writes and locking reads (`select_for_update`) inside the
block, and every read when the alias is not configured or `DATABASE_REPLICA_READS` is off (the switch to stop
reading a replica that lags, without a deploy of new settings). Authentication runs before a view's handler, so
the caller's token and user are read from `default`: a token issued a moment ago is found even if the replica
has not caught up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_reading_replica: ContextVar[bool] = ContextVar("reading_replica", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside the block go to the replica when one is configured (thread- and task-local)."""
    token = _reading_replica.set(True)
    try:
        yield
    finally:
        _reading_replica.reset(token)


def replica_alias() -> str:
    """Where a read goes now: `replica` inside replica_reads() with a replica configured and switched on."""
    if _reading_replica.get() and REPLICA in connections.databases and getattr(
            settings, "DATABASE_REPLICA_READS", True):
        return REPLICA
    return DEFAULT_DB_ALIAS


class ReplicaRouter:
    """Writes always to `default`; reads to `default` but inside replica_reads(). Naming `default` explicitly (not
    None) keeps Django from sending a model read from the replica back to the replica for its next write or
    related read, once the block has ended."""

    def db_for_read(self, model, **hints) -> str:
        return replica_alias()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, two connections to it

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        return False if db == REPLICA else None  # a replica follows its primary
