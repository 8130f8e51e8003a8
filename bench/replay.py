"""Recording the statements Django sends for one piece of work, and replaying them with psycopg for another
order in the same state: the ceilings of bench/run.py (transitions in-process, check-in and order detail over
HTTP through bench/urls.py).

Every table's ids start at their own multiple of bench.run.ID_BLOCK, so an integer parameter that is an id is
never another table's id nor a small number (a seq, a position): a recorded statement is re-aimed at another
order by swapping the ids in its parameters (`order_id_map` pairs the ids of two orders built alike), and the
rows it inserts are mapped to the replay's own from `RETURNING`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass
class Statement:
    sql: str
    params: object
    many: bool
    returned: list  # the ids an INSERT ... RETURNING gave when recorded
    in_transaction: bool  # sent inside an atomic block (replayed inside one transaction)


def _returns_ids(sql: str) -> bool:
    return sql.lstrip().upper().startswith("INSERT") and " RETURNING " in sql.upper()


class Recorder:
    """A connection.execute_wrapper keeping each statement with its parameters, whether it ran inside an atomic
    block and, for an INSERT ... RETURNING, the ids it returned."""

    def __init__(self):
        self.statements: list[Statement] = []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        returned = []
        if not many and _returns_ids(sql):
            cursor = context["cursor"].cursor
            returned = [r[0] for r in cursor.fetchall()]
            cursor.scroll(0, mode="absolute")
        self.statements.append(Statement(sql, params, many, returned, context["connection"].in_atomic_block))
        return result


def remap(value, mapping: dict):
    """Swap the ids (and UUIDs, e.g. a client_event_id) in a statement's parameters; lists inside: bulk inserts
    pass arrays."""
    if type(value) is int or isinstance(value, uuid.UUID):
        return mapping.get(value, value)
    if isinstance(value, list | tuple):
        return [remap(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: remap(v, mapping) for k, v in value.items()}
    return value


def _run(cur, statement: Statement, mapping: dict) -> None:
    if statement.many:
        cur.executemany(statement.sql, [remap(p, mapping) for p in statement.params])
    elif statement.params is None:
        cur.execute(statement.sql)
    else:
        cur.execute(statement.sql, remap(statement.params, mapping))
    if cur.description is not None:
        rows = cur.fetchall()
        if statement.returned:
            mapping.update(zip(statement.returned, (r[0] for r in rows), strict=True))


def replay(conn, statements: list[Statement], mapping: dict) -> None:
    """Send the statements on a psycopg connection in autocommit mode: those recorded inside an atomic block in
    one transaction, as Django sent them (`SELECT ... FOR UPDATE` included). `mapping` gains the inserted ids."""
    cur = conn.cursor()
    i = 0
    while i < len(statements):
        if not statements[i].in_transaction:
            _run(cur, statements[i], mapping)
            i += 1
            continue
        with conn.transaction():
            while i < len(statements) and statements[i].in_transaction:
                _run(cur, statements[i], mapping)
                i += 1


def order_id_map(model, other) -> dict[int, int]:
    """{id: id} pairing the rows of two orders built the same way: the orders, their consumers, and every row of
    every table with a foreign key to the order (in id order), with the visits' technicians."""
    from workflows.models import Appointment, ServiceOrder

    mapping = {model.pk: other.pk, model.consumer_id: other.consumer_id}
    for rel in ServiceOrder._meta.related_objects:
        if not rel.one_to_many:
            continue
        field = rel.field.name
        ids = [list(rel.related_model.objects.filter(**{field: o}).order_by("pk").values_list("pk", flat=True))
               for o in (model, other)]
        if len(ids[0]) != len(ids[1]):
            raise ValueError(f"{rel.related_model.__name__}: the orders differ ({len(ids[0])} vs {len(ids[1])} rows)")
        mapping.update(zip(*ids, strict=True))
    techs = [list(Appointment.objects.filter(order=o).order_by("pk").values_list("technician_id", flat=True))
             for o in (model, other)]
    mapping.update((a, b) for a, b in zip(*techs, strict=True) if a is not None)
    return mapping
