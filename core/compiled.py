"""Querysets compiled once per database connection, then sent again with new values.

Django compiles a queryset's SQL anew each time it runs it. For the few statements of the hot paths (the engine's
lock of an order, its stages' read, the order detail's reads) that compiling cost more than PostgreSQL took to
answer (docs/performance.md, target 1). A `CompiledQuery` builds its queryset once per connection and shape, with
a sentinel integer for each value, keeps Django's SQL and its compiler, and afterwards swaps the values into the
parameters and reads the rows into model instances or dicts the way Django's own iterables do. The SQL is still
the ORM's (ADR 0009): nothing here is written by hand.

Values are integers (ids), strings (keys) or lists of integers; a list's length is part of the shape (an `IN` of
three is another statement than an `IN` of two). Anything else the queryset depends on (registered hooks, a role)
goes into `shape`, so a change of it compiles another statement.

A compiled read goes to the alias it is given (`default` unless told), not through the database routers: the
dashboard's replica reads (core.replica) keep to plain querysets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import (
    ModelIterable,
    NamedValuesListIterable,
    ValuesIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.transaction import TransactionManagementError

# Far below any id a sequence gives, and distinct per value: a parameter equal to one is that value's slot.
_SENTINEL_BASE = -(2**62)
_SENTINEL_STEP = 1_000


@dataclass
class _Statement:
    sql: str
    params: tuple
    slots: list[tuple[int, str, int]]  # (parameter position, value name, index in a list value or -1)
    compiler: Any
    names: list[str] | None  # the columns of a values() or values_list() row; None for model instances
    order: list[int] | None  # where values_list()'s fields are in the row, when not in the row's order
    for_update: bool
    converters: dict | None = None  # Django's converters of the row's columns, found at the first run


_VALUES = (ValuesIterable, ValuesListIterable, NamedValuesListIterable)
_EMPTY = object()  # a queryset that matches nothing whatever its values (Django raised EmptyResultSet)


def _sentinels(values: dict[str, Any]) -> tuple[dict[str, Any], dict[int, tuple[str, int]]]:
    stand_ins, where = {}, {}
    for k, (name, value) in enumerate(sorted(values.items())):
        base = _SENTINEL_BASE + k * _SENTINEL_STEP
        if isinstance(value, str):
            stand_ins[name] = f"\x1fcompiled-value-{k}\x1f"
            where[stand_ins[name]] = (name, -1)
        elif isinstance(value, list | tuple):
            if len(value) >= _SENTINEL_STEP:
                raise ValueError(f"{name}: too many values for one compiled statement")
            stand_ins[name] = [base + i for i in range(len(value))]
            where.update({base + i: (name, i) for i in range(len(value))})
        else:
            stand_ins[name] = base
            where[base] = (name, -1)
    return stand_ins, where


class CompiledQuery:
    """`build(**values) -> QuerySet`, compiled once per connection and shape, then run with new values."""

    def __init__(self, name: str, build: Callable[..., QuerySet]):
        self.name = name
        self.build = build

    def _statement(self, connection, shape: tuple, values: dict[str, Any]):
        key = (self.name, shape, tuple(sorted((k, len(v) if isinstance(v, list | tuple) else None)
                                             for k, v in values.items())))
        cache = connection.__dict__.setdefault("_compiled_queries", {})
        statement = cache.get(key)
        if statement is None:
            statement = cache[key] = self._compile(connection, values)
        return statement

    def _compile(self, connection, values: dict[str, Any]):
        stand_ins, where = _sentinels(values)
        queryset = self.build(**stand_ins)
        if queryset._iterable_class not in (ModelIterable, *_VALUES) or queryset._prefetch_related_lookups:
            raise ImproperlyConfigured(f"{self.name}: only model, values() or values_list() querysets compile, "
                                       "without prefetches")
        if queryset._known_related_objects:
            raise ImproperlyConfigured(f"{self.name}: build from the model's manager, not a related manager")
        compiler = queryset.query.get_compiler(connection=connection)
        connection.ensure_connection()  # some of Django's checks while compiling read the server's version
        try:
            # Compiled outside a transaction, a FOR UPDATE raises here; each run checks that again (_rows).
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return _EMPTY
        slots = [(i, *where[p]) for i, p in enumerate(params) if type(p) in (int, str) and p in where]
        missing = {name for name, _ in where.values()} - {name for _, name, _ in slots}
        if missing:
            raise ImproperlyConfigured(f"{self.name}: {sorted(missing)} did not reach the statement's parameters")
        query = queryset.query
        names = order = None
        if queryset._iterable_class in _VALUES:  # as ValuesIterable names a row's values
            names = (list(query.selected) if query.selected
                     else [*query.extra_select, *query.values_select, *query.annotation_select])
            fields = list(queryset._fields or names)
            if fields != names:
                order = [names.index(f) for f in fields]
                names = fields
        return _Statement(sql, tuple(params), slots, compiler, names, order, bool(query.select_for_update))

    def _rows(self, connection, statement: _Statement, values: dict[str, Any]):
        params = list(statement.params)
        for position, name, index in statement.slots:
            params[position] = values[name] if index < 0 else values[name][index]
        if statement.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            rows = cursor.fetchall()
        compiler = statement.compiler
        if compiler.has_extra_select:  # columns added for ordering only, as Django's cursor_iter drops them
            rows = [row[: compiler.col_count] for row in rows]
        if statement.converters is None:  # as results_iter finds them, once
            fields = [column[0] for column in compiler.select[: compiler.col_count]]
            if compiler.has_composite_fields(fields):
                raise ImproperlyConfigured(f"{self.name}: composite primary keys are not compiled")
            statement.converters = compiler.get_converters(fields)
        if statement.converters:
            return list(compiler.apply_converters(rows, statement.converters))
        return rows

    def _value_rows(self, using: str, shape: tuple, values: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        """The field names and rows (tuples in the fields' order) of a values() or values_list() queryset."""
        connection = connections[using]
        statement = self._statement(connection, shape, values)
        if statement is _EMPTY:
            return [], []
        if statement.names is None:
            raise ImproperlyConfigured(f"{self.name}: rows() and values() need a values() or values_list() queryset")
        rows = self._rows(connection, statement, values)
        if statement.order is not None:
            return statement.names, [tuple(row[i] for i in statement.order) for row in rows]
        return statement.names, [tuple(row) for row in rows]

    def rows(self, *, using: str = DEFAULT_DB_ALIAS, shape: tuple = (), **values) -> list[tuple]:
        """The rows of a values() or values_list() queryset, as tuples of its fields (in values_list()'s order)."""
        return self._value_rows(using, shape, values)[1]

    def values(self, *, using: str = DEFAULT_DB_ALIAS, shape: tuple = (), **values) -> list[dict]:
        """The rows of a values() or values_list() queryset, as dicts."""
        names, rows = self._value_rows(using, shape, values)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def models(self, *, using: str = DEFAULT_DB_ALIAS, shape: tuple = (), share_related: bool = False,
               **values) -> list[Model]:
        """The rows as model instances, with their select_related rows and annotations, as Django's ModelIterable
        builds them. `share_related`: a related row that several rows carry (their order, say) is one instance."""
        connection = connections[using]
        statement = self._statement(connection, shape, values)
        if statement is _EMPTY:
            return []
        compiler = statement.compiler
        select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model_cls = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, using)
        if share_related:
            populators = [_Shared(populator) for populator in populators]
        objects = []
        for row in self._rows(connection, statement, values):
            obj = model_cls.from_db(using, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for attr, position in (annotation_col_map or {}).items():
                setattr(obj, attr, row[position])
            objects.append(obj)
        return objects


class _Shared:
    """A select_related populator (Django's RelatedPopulator.populate) whose instance, with its own related rows, is
    built once for all the rows that carry the same primary key."""

    def __init__(self, populator):
        self.populator = populator
        self.built: dict[Any, Model] = {}

    def populate(self, row, from_obj):
        p = self.populator
        data = p.reorder_for_init(row) if p.reorder_for_init else row[p.cols_start: p.cols_end]
        key = data[p.pk_idx]
        obj = None if key is None else self.built.get(key)
        if key is not None and obj is None:
            obj = self.built[key] = p.model_cls.from_db(p.db, p.init_list, data)
            for related in p.related_populators:
                related.populate(row, obj)
        p.local_setter(from_obj, obj)
        if obj is not None:
            p.remote_setter(obj, from_obj)
