"""History at scale, generated inside PostgreSQL: orders with their stages, visits, events, installments,
payments, ledger charges and the SLA breaches already recorded, for benchmarks of the read side (SLA scan,
metrics, dashboard) at 10^4-10^6 orders and more.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_wmillion \
        .venv/bin/python bench/generate.py --orders 1000000 [--keep-existing]

As a library (the database migrated, Django set up): `generate(n_orders)` returns a `Generated` with the ids and
user names of what it made. It can be called on a database that has other data (the load test's, say): every id
it writes starts above the table's highest.

What it writes, with the distributions of the earlier Python generator of bench/insights_bench.py: one merchant,
`stores` stores, technicians_per_store technicians each, `consumers` consumers, an operator, a merchant admin and
a manager of the first store (made with the ORM, unusable passwords), the reference wardrobe template (made and
published by the product's services; with `fixed_deposit` / `--fixed-deposit 500`, its booking stage pays that
fixed amount instead of 10 % and the design and installation take 35 % and 55 % of the rest), then `n_orders`
orders over the last 180 days (each created early enough for its timeline to be over by now: nothing is dated in
the future), 80 % completed (every stage
done, every installment paid with its captured payment and ledger charge, visits checked in and out with a
`job.checked_in` event) and 20 % active, spread over stages 2 to 5 (visits booked up to 30 hours ago or 3 days
ahead, stages in progress, approvals waiting up to 5 days, installments due up to 6 days). Then the SLA backlog:
the subjects the product's own scan queries (insights.sla) find breached get their breach rows, and booked visits
past their tolerance are marked no-show, as the scan would have done over time; so a scan right after finds
(almost) nothing new: the steady state that runs every 5 minutes. Breach rows carry no event, and event rows carry
placeholder hashes (the chain is not what these benchmarks measure).

All rows are made by `INSERT ... SELECT` over `generate_series` (PostgreSQL's random(), seeded), in one
transaction with `session_replication_role = replica`, which skips the foreign-key triggers (the rows are
consistent by construction): it needs a superuser, as the local `postgres` role is. 10^6 orders (about 20
million rows) take minutes; docs/performance.md has the measured times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

# ruff: noqa: S608 (table and column names and numbers in the SQL are this module's own, never input)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACTIVE_SHARE = 0.2
HISTORY_DAYS = 180
TOTAL = Decimal("12000.00")
CURRENCY = "CNY"


@dataclass
class Generated:
    orders: int
    merchant_id: int
    store_ids: list[int]
    technician_ids: list[int]
    consumer_ids: list[int]
    operator: str
    admin: str
    manager: str
    template_version_id: int
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def generate(n_orders: int, *, stores: int = 20, technicians_per_store: int = 3, consumers: int = 500,
             prefix: str = "gen", seed: float = 0.42, now: datetime | None = None,
             fixed_deposit: Decimal | None = None, log: Callable[[str], None] = print) -> Generated:
    """Write `n_orders` orders (and everything under them) for a new merchant named after `prefix`."""
    import psycopg
    from django.db import connection, transaction
    from django.utils import timezone

    if connection.vendor != "postgresql":
        raise RuntimeError("bench.generate writes with PostgreSQL's generate_series: use a PostgreSQL database")
    now = now or timezone.now()
    t0 = time.perf_counter()
    world = _world(prefix=prefix, n_stores=stores, technicians_per_store=technicians_per_store,
                   n_consumers=consumers, fixed_deposit=fixed_deposit)
    world.orders = n_orders
    world.seconds["set-up (ORM and services)"] = time.perf_counter() - t0
    plan = _Plan(world, n_orders, now)
    connection.ensure_connection()
    # Client-side binding: PostgreSQL takes no parameters in CREATE TABLE AS (the settings bind server-side).
    with transaction.atomic(), psycopg.ClientCursor(connection.connection) as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SET LOCAL work_mem = '256MB'")
        cur.execute("SELECT setseed(%s)", [seed])
        for label, sql, params in plan.statements():
            t = time.perf_counter()
            cur.execute(sql, params)
            elapsed = time.perf_counter() - t
            world.seconds[label] = elapsed
            if cur.rowcount and cur.rowcount > 0:
                world.rows[label] = cur.rowcount
            log(f"  {label:<44} {cur.rowcount if cur.rowcount >= 0 else '':>10} rows {elapsed:7.1f} s")
        for table in plan.tables:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
    t = time.perf_counter()
    with connection.cursor() as cur:
        for table in plan.tables:
            cur.execute(f"ANALYZE {table}")
    world.seconds["analyze"] = time.perf_counter() - t
    world.seconds["total"] = time.perf_counter() - t0
    return world


def _wardrobe(fixed_deposit: Decimal | None) -> dict:
    """The reference wardrobe; with `fixed_deposit`, its booking stage pays that fixed amount (a 定金) and the shares
    of the other paying stages, still adding up to 100 %, split the rest."""
    import copy

    from workflows.reference import CUSTOM_WARDROBE

    definition = copy.deepcopy(CUSTOM_WARDROBE)
    if fixed_deposit is not None:
        definition["name"] = f"{definition['name']} ({fixed_deposit} {CURRENCY} deposit)"
        shares = {"booking": None, "design": Decimal("35"), "installation": Decimal("55"), "acceptance": Decimal("10")}
        for stage in definition["stages"]:
            if stage["code"] in shares:
                stage["payment_share"] = shares[stage["code"]]
        definition["stages"][0].update(payment_amount=fixed_deposit, payment_currency=CURRENCY)
    return definition


def _world(*, prefix: str, n_stores: int, technicians_per_store: int, n_consumers: int,
           fixed_deposit: Decimal | None = None) -> Generated:
    from tenancy.models import Merchant, Store, User
    from tests.factories.workflows import make_template

    merchant = Merchant.objects.create(name=f"{prefix.title()} Furniture", slug=prefix, tier="enterprise")
    stores = [Store.objects.create(merchant=merchant, name=f"{prefix.title()} store {i:02d}", code=f"{prefix}{i:02d}",
                                   address=f"{i} Bench Road", latitude=Decimal("31.2"), longitude=Decimal("121.4"))
              for i in range(n_stores)]
    # Unusable passwords ("!"): hashing thousands of real ones would dominate the set-up.
    operator = User.objects.create(username=f"{prefix}_ops", password="!", role="platform_operator",  # noqa: S106
                                   is_staff=True)
    admin = User.objects.create(username=f"{prefix}_admin", password="!", role="merchant_admin",  # noqa: S106
                                merchant=merchant, is_staff=True)
    manager = User.objects.create(username=f"{prefix}_manager", password="!", role="store_manager",  # noqa: S106
                                  merchant=merchant, is_staff=True)
    manager.stores.set(stores[:1])
    # Technician i works at store i % n_stores, so technician (n % S) + S * k serves the store of order n.
    technicians = User.objects.bulk_create([
        User(username=f"{prefix}_tech{i}", password="!", role="technician", merchant=merchant)  # noqa: S106
        for i in range(n_stores * technicians_per_store)])
    User.stores.through.objects.bulk_create([
        User.stores.through(user_id=t.pk, store_id=stores[i % n_stores].pk) for i, t in enumerate(technicians)])
    people = User.objects.bulk_create([User(username=f"{prefix}_c{i}", password="!", role="consumer")  # noqa: S106
                                       for i in range(n_consumers)])
    template = make_template(merchant=merchant, stores=stores, definition=_wardrobe(fixed_deposit))
    version = template.versions.get(status="published")
    return Generated(orders=0, merchant_id=merchant.pk, store_ids=[s.pk for s in stores],
                     technician_ids=[t.pk for t in technicians], consumer_ids=[c.pk for c in people],
                     operator=operator.username, admin=admin.username, manager=manager.username,
                     template_version_id=version.pk)


def _hours(expr: str) -> str:
    return f"(interval '1 hour' * ({expr}))"


class _Plan:
    """The statements, built from the template's stage definitions (positions 1..K)."""

    tables = ["workflows_serviceorder", "workflows_stageinstance", "workflows_appointment", "workflows_orderevent",
              "payments_installment", "payments_payment", "payments_ledgerentry", "insights_slabreach"]

    def __init__(self, world: Generated, n: int, now: datetime):
        from core.money import allocate_with_fixed
        from workflows.models import StageDefinition

        self.world, self.n, self.now = world, n, now
        self.defs = list(StageDefinition.objects.filter(version_id=world.template_version_id).order_by("position"))
        self.k = len(self.defs)
        self.visits = [d for d in self.defs if d.requires_appointment]
        self.paying = [d for d in self.defs if d.payment_part]  # a share or a fixed amount (a deposit)
        self.amounts = dict(zip([d.pk for d in self.paying],
                                allocate_with_fixed(TOTAL, [d.payment_part for d in self.paying], CURRENCY),
                                strict=True))

    # --- helpers ---------------------------------------------------------------------------------------
    def base(self, table: str) -> str:
        return f"(SELECT COALESCE(MAX(id), 0) FROM {table})"

    def stage_id(self, position: int | str) -> str:
        return f"(b.stage + (g.n - 1) * {self.k} + {position})"

    def t(self, position: int) -> str:
        """When stage `position` was entered, for stages before the current one (t{K+1}: when the last ended)."""
        return f"g.t{position}"

    def statements(self):
        now = self.now
        p = {"now": now, "stores": self.world.store_ids, "techs": self.world.technician_ids,
             "consumers": self.world.consumer_ids}
        k, n_stores = self.k, len(self.world.store_ids)
        per_store = len(self.world.technician_ids) // n_stores
        randoms = ", ".join([f"random() AS d{d.position}, random() AS w{d.position}" for d in self.defs]
                            + [f"random() AS on{d.position}, random() AS out{d.position}, "
                               f"random() AS dist{d.position}, random() AS ws{d.position}" for d in self.visits])
        # Stage p done took (1 .. its SLA hours, or 48) x 1.1 hours; t1 = created, t{p+1} = t{p} + that.
        took = {d.position: _hours(f"(1 + d{d.position} * ({(d.sla_hours or 48) - 1})) * 1.1") for d in self.defs}
        # Nothing is dated in the future: an order is created early enough for all its stages (and the day its
        # payments take) to be over by now (a fact after now would be one no roll-up or scan could have seen).
        yield ("draw the random numbers", f"""
            CREATE TEMP TABLE gen_draw ON COMMIT DROP AS
            SELECT r.*, LEAST(r.drawn, %(now)s::timestamptz - interval '1 day' - {' - '.join(took.values())})
                   AS created
            FROM (SELECT n, %(now)s::timestamptz - random() * interval '{HISTORY_DAYS} days' AS drawn,
                         random() < {ACTIVE_SHARE} AS active, random() AS r_cur, random() AS r_state,
                         random() AS r_time, random() AS r_due, {randoms}
                  FROM generate_series(1, {self.n}) AS n) AS r""", p)
        times, acc = ["created AS t1"], "created"
        for d in self.defs:
            acc = f"{acc} + {took[d.position]}"
            times.append(f"{acc} AS t{d.position + 1}")
        state_of = " ".join(f"WHEN {d.position} THEN {self._current_state(d)}" for d in self.defs)
        code_of = " ".join(f"WHEN {d.position} THEN '{d.code}'" for d in self.defs)
        yield ("derive each order's position and times", f"""
            CREATE TEMP TABLE gen ON COMMIT DROP AS
            SELECT x.*, CASE x.cur {state_of} END AS cur_state, CASE x.cur {code_of} END AS cur_code
            FROM (SELECT gen_draw.*, {', '.join(times)},
                         CASE WHEN active THEN 2 + floor(r_cur * {k - 1})::int ELSE {k + 1} END AS cur
                  FROM gen_draw) AS x""", p)
        yield ("the id bases", f"""
            CREATE TEMP TABLE gen_base ON COMMIT DROP AS SELECT
              {self.base('workflows_serviceorder')} AS ord, {self.base('workflows_stageinstance')} AS stage,
              {self.base('workflows_appointment')} AS appt, {self.base('workflows_orderevent')} AS event,
              {self.base('payments_installment')} AS inst, {self.base('payments_payment')} AS pay,
              {self.base('payments_ledgerentry')} AS ledger""", p)
        store = f"(%(stores)s::bigint[])[(g.n %% {n_stores}) + 1]"
        # The chain's tail on the order row (workflows/chain_tail.py): its trigger does not fire here (replica
        # role), so it is the last of the events written below: the last check-in (seq 100 + position) or
        # order.created (seq 1).
        tail_seq = "GREATEST(1, " + ", ".join(
            f"CASE WHEN {d.position} < g.cur THEN {100 + d.position} ELSE 0 END" for d in self.visits) + ")"
        yield ("orders", f"""
            INSERT INTO workflows_serviceorder (id, number, merchant_id, store_id, consumer_id, template_version_id,
                total_amount, currency, service_address, latitude, longitude, state, status, current_stage_id,
                created_by_id, created_at, completed_at, cancelled_at, cancel_reason, tracking_token_version,
                external_ref, event_tail_seq, event_tail_hash)
            SELECT b.ord + g.n, 'G' || (b.ord + g.n), {self.world.merchant_id}, {store},
                   (%(consumers)s::bigint[])[(g.n %% {len(self.world.consumer_ids)}) + 1],
                   {self.world.template_version_id}, {TOTAL}, '{CURRENCY}', '1 Bench Road', 31.2, 121.4,
                   CASE WHEN g.active THEN g.cur_code || ':' || g.cur_state ELSE 'completed' END,
                   CASE WHEN g.active THEN 'active' ELSE 'completed' END,
                   CASE WHEN g.active THEN {self.stage_id('g.cur')} END,
                   NULL, g.created, CASE WHEN g.active THEN NULL ELSE g.t{k + 1} END, NULL, '', 1, '',
                   {tail_seq}, 'generated'
            FROM gen g, gen_base b""", p)
        for d in self.defs:
            yield (f"stages at position {d.position} ({d.code})", self._stage_sql(d), p)
        tech = f"(%(techs)s::bigint[])[(g.n %% {n_stores}) + {n_stores} * (g.n %% {per_store}) + 1]"
        for j, d in enumerate(self.visits, start=1):
            yield (f"visits of {d.code}", self._visit_sql(d, j, store, tech), p)
            yield (f"check-in events of {d.code}", self._checkin_event_sql(d, j, tech), p)
        yield ("order.created events", f"""
            INSERT INTO workflows_orderevent (id, order_id, seq, stage_id, kind, trigger, from_state, to_state,
                actor_id, actor_role, created_at, payload, prev_hash, hash)
            SELECT b.event + (g.n - 1) * {len(self.visits) + 1} + 1, b.ord + g.n, 1, {self.stage_id(1)},
                   'order.created', '', '', '{self.defs[0].code}:waiting_payment', NULL, 'system', g.created,
                   jsonb_build_object('total_amount', '{TOTAL}'), '', 'generated'
            FROM gen g, gen_base b""", p)
        for j, d in enumerate(self.paying, start=1):
            for label, sql in self._money_sql(d, j):
                yield (label, sql, p)
        yield from self._breaches()

    def _current_state(self, d) -> str:
        if d.requires_appointment and d.payment_part and d.payment_timing == "before":
            return ("CASE WHEN x.r_state < 0.15 THEN 'waiting_payment' WHEN x.r_state < 0.25 THEN 'ready' "
                    "WHEN x.r_state < 0.75 THEN 'scheduled' ELSE 'in_progress' END")
        if d.requires_appointment:
            return ("CASE WHEN x.r_state < 0.1 THEN 'ready' WHEN x.r_state < 0.7 THEN 'scheduled' "
                    "ELSE 'in_progress' END")
        if d.requires_approval:
            return "CASE WHEN x.r_state < 0.6 THEN 'awaiting_approval' ELSE 'in_progress' END"
        return "'waiting_payment'"

    def _started_now(self, d) -> str:
        """When the current stage, in progress, was started."""
        return f"%(now)s::timestamptz - {_hours(f'g.r_time * {90 if d.requires_appointment else 150}')}"

    def _stage_sql(self, d) -> str:
        pos, here = d.position, f"g.cur = {d.position}"
        before = f"{pos} < g.cur"
        started = f"CASE WHEN {before} THEN {self.t(pos)} WHEN {here} AND g.cur_state = 'in_progress' " \
                  f"THEN {self._started_now(d)} END"
        sla = (f"CASE WHEN {before} THEN {self.t(pos)} + interval '{d.sla_hours} hours' "
               f"WHEN {here} AND g.cur_state = 'in_progress' THEN {self._started_now(d)} "
               f"+ interval '{d.sla_hours} hours' END") if d.sla_hours else "NULL"
        rework = f"CASE WHEN {before} AND g.w{pos} < 0.25 THEN 1 ELSE 0 END" if d.requires_approval else "0"
        return f"""
            INSERT INTO workflows_stageinstance (id, order_id, definition_id, position, state, rework_rounds,
                entered_at, started_at, submitted_at, completed_at, sla_due_at, submission_notes, waiting_seconds)
            SELECT {self.stage_id(pos)}, b.ord + g.n, {d.pk}, {pos},
                   CASE WHEN {before} THEN 'done' WHEN {here} THEN g.cur_state ELSE 'pending' END, {rework},
                   CASE WHEN {before} THEN {self.t(pos)}
                        WHEN {here} THEN GREATEST({self.t(pos)}, %(now)s::timestamptz - interval '8 days') END,
                   {started},
                   CASE WHEN {here} AND g.cur_state = 'awaiting_approval'
                        THEN %(now)s::timestamptz - {_hours('g.r_time * 120')} END,
                   CASE WHEN {before} THEN {self.t(pos + 1)} END, {sla}, '', 0
            FROM gen g, gen_base b"""

    def _window(self, d) -> str:
        """A done visit began an hour after its stage was entered; the current one is booked from 30 hours ago to
        3 days ahead."""
        pos = d.position
        return (f"CASE WHEN {pos} < g.cur THEN {self.t(pos)} + interval '1 hour' "
                f"ELSE %(now)s::timestamptz + {_hours(f'-30 + g.ws{pos} * 102')} END")

    def _visit_sql(self, d, j: int, store: str, tech: str) -> str:
        pos, length = d.position, f"interval '{d.appointment_minutes} minutes'"
        return f"""
            INSERT INTO workflows_appointment (id, order_id, stage_id, store_id, technician_id, window_start,
                window_end, state, reschedule_count, booked_by_id, created_at, checked_in_at, checked_out_at)
            SELECT b.appt + (g.n - 1) * {len(self.visits)} + {j}, b.ord + g.n, {self.stage_id(pos)}, {store}, {tech},
                   w.start, w.start + {length},
                   CASE WHEN {pos} < g.cur THEN 'checked_out' WHEN g.cur_state = 'scheduled' THEN 'booked'
                        ELSE 'checked_in' END,
                   0, NULL, g.created,
                   CASE WHEN {pos} < g.cur OR g.cur_state = 'in_progress' THEN w.start END,
                   CASE WHEN {pos} < g.cur THEN w.start + {length} END
            FROM gen g CROSS JOIN gen_base b CROSS JOIN LATERAL (SELECT {self._window(d)} AS start) AS w
            WHERE {pos} < g.cur OR ({pos} = g.cur AND g.cur_state IN ('scheduled', 'in_progress'))"""

    def _checkin_event_sql(self, d, j: int, tech: str) -> str:
        pos = d.position
        return f"""
            INSERT INTO workflows_orderevent (id, order_id, seq, stage_id, kind, trigger, from_state, to_state,
                actor_id, actor_role, created_at, payload, prev_hash, hash)
            SELECT b.event + (g.n - 1) * {len(self.visits) + 1} + 1 + {j}, b.ord + g.n, 100 + {pos},
                   {self.stage_id(pos)}, 'job.checked_in', '', '', '', {tech}, 'technician',
                   {self.t(pos)} + interval '65 minutes',
                   jsonb_build_object('on_time', g.on{pos} < 0.85, 'outside_radius', g.out{pos} < 0.05,
                                      'distance_m', round((3 + g.dist{pos} * 497)::numeric, 1)),
                   '', 'generated'
            FROM gen g, gen_base b
            WHERE {pos} < g.cur"""

    def _money_sql(self, d, j: int):
        pos, after = d.position, d.payment_timing == "after"
        k, n_paying = self.k, len(self.paying)
        # An installment due before its stage is paid once the stage is past waiting for it; one due after its
        # stage, once the next stage is done.
        if after:
            paid, due = f"(g.cur > {k} OR {pos} < g.cur - 1)", f"({pos} = g.cur - 1)"
        else:
            paid = f"(g.cur > {k} OR {pos} < g.cur OR ({pos} = g.cur AND g.cur_state <> 'waiting_payment'))"
            due = f"({pos} = g.cur AND g.cur_state = 'waiting_payment')"
        inst_id, pay_id = f"b.inst + (g.n - 1) * {n_paying} + {j}", f"b.pay + (g.n - 1) * {n_paying} + {j}"
        amount = self.amounts[d.pk]
        yield (f"installments of {d.code}", f"""
            INSERT INTO payments_installment (id, order_id, stage_id, position, amount, currency, timing, refundable,
                state, created_at, due_at, paid_at)
            SELECT {inst_id}, b.ord + g.n, {self.stage_id(pos)}, {pos}, {amount}, '{CURRENCY}', '{d.payment_timing}',
                   {'TRUE' if d.refundable_on_cancel else 'FALSE'},
                   CASE WHEN {paid} THEN 'paid' WHEN {due} THEN 'due' ELSE 'scheduled' END, g.created,
                   CASE WHEN {paid} THEN g.created WHEN {due} THEN %(now)s::timestamptz - {_hours('g.r_due * 144')} END,
                   CASE WHEN {paid} THEN g.created + interval '1 day' END
            FROM gen g, gen_base b""")
        yield (f"payments of {d.code}", f"""
            INSERT INTO payments_payment (id, installment_id, order_id, provider, reference, provider_payment_id,
                amount, currency, status, checkout_url, created_by_id, created_at, captured_at, closed_at, channel,
                action, waiting_answers)
            SELECT {pay_id}, {inst_id}, b.ord + g.n, 'sandbox', 'gen' || ({pay_id}), NULL, {amount}, '{CURRENCY}',
                   'captured', '', NULL, g.created, g.created + interval '1 day', NULL, 'sandbox', '{{}}'::jsonb, 0
            FROM gen g, gen_base b WHERE {paid}""")
        yield (f"ledger charges of {d.code}", f"""
            INSERT INTO payments_ledgerentry (id, order_id, installment_id, payment_id, refund_id, kind, amount,
                currency, created_at)
            SELECT b.ledger + (g.n - 1) * {n_paying} + {j}, b.ord + g.n, {inst_id}, {pay_id}, NULL, 'charge', {amount},
                   '{CURRENCY}', g.created + interval '1 day'
            FROM gen g, gen_base b WHERE {paid}""")

    def _breaches(self):
        """The breaches the product's scan would have recorded by now, found by its own candidate queries."""
        from django.conf import settings

        from insights import sla
        from insights.conf import setting
        from insights.models import SlaBreach

        now, kind = self.now, SlaBreach.Kind
        columns = "kind, due_at, detected_at, details, stage_id, appointment_id, installment_id, order_id, " \
                  "merchant_id, store_id"

        def among(qs) -> tuple[str, list]:
            sql, params = qs.order_by().values("pk").query.sql_with_params()
            return sql, list(params)

        sql, params = among(sla.overdue_stages(now))
        yield ("SLA backlog: stages overdue", f"""
            INSERT INTO insights_slabreach ({columns})
            SELECT '{kind.STAGE_OVERDUE}', s.sla_due_at, %s, jsonb_build_object('stage_state', s.state), s.id, NULL,
                   NULL, o.id, o.merchant_id, o.store_id
            FROM workflows_stageinstance s JOIN workflows_serviceorder o ON o.id = s.order_id
            WHERE s.id IN ({sql})""", [now, *params])
        sql, params = among(sla.no_show_candidates(now))
        yield ("SLA backlog: no-shows", f"""
            WITH missed AS (
                INSERT INTO insights_slabreach ({columns})
                SELECT '{kind.NO_SHOW}', a.window_end + d.arrival_tolerance_minutes * interval '1 minute', %s,
                       jsonb_build_object('technician_id', a.technician_id, 'window_end', a.window_end), a.stage_id,
                       a.id, NULL, a.order_id, o.merchant_id, o.store_id
                FROM workflows_appointment a JOIN workflows_serviceorder o ON o.id = a.order_id
                     JOIN workflows_stageinstance s ON s.id = a.stage_id
                     JOIN workflows_stagedefinition d ON d.id = s.definition_id
                WHERE a.id IN ({sql}) AND a.window_end + d.arrival_tolerance_minutes * interval '1 minute' < %s
                RETURNING appointment_id)
            UPDATE workflows_appointment SET state = 'no_show' WHERE id IN (SELECT appointment_id FROM missed)""",
               [now, *params, now])
        hours = setting("INSIGHTS_APPROVAL_WAIT_HOURS")
        sql, params = among(sla.overdue_approvals(now))
        yield ("SLA backlog: approvals overdue", f"""
            INSERT INTO insights_slabreach ({columns})
            SELECT '{kind.APPROVAL_OVERDUE}', s.submitted_at + interval '{int(hours)} hours', %s,
                   jsonb_build_object('waiting_hours', {int(hours)}), s.id, NULL, NULL, o.id, o.merchant_id, o.store_id
            FROM workflows_stageinstance s JOIN workflows_serviceorder o ON o.id = s.order_id
            WHERE s.id IN ({sql})""", [now, *params])
        for k, mark in sla.REPORTED_MARK.items():  # the mark the scan leaves on a recorded stage
            yield (f"SLA backlog: stages marked {k}", f"""
                UPDATE workflows_stageinstance s SET {mark} = b.detected_at FROM insights_slabreach b
                WHERE b.stage_id = s.id AND b.kind = '{k}' AND b.appointment_id IS NULL
                  AND b.installment_id IS NULL AND s.id > (SELECT stage FROM gen_base)""", [])
        # Overdue installments are the payments app's own scan (payments.plugin.scan_installments_overdue, through
        # workflows.hooks.register_sla_scan): its query, and the mark it leaves (overdue_reported_at), here in SQL.
        hours = int(getattr(settings, "INSIGHTS_INSTALLMENT_OVERDUE_HOURS", 72))
        yield ("SLA backlog: installments overdue", f"""
            WITH overdue AS (
                INSERT INTO insights_slabreach ({columns})
                SELECT '{kind.INSTALLMENT_OVERDUE}', i.due_at + interval '{hours} hours', %s,
                       jsonb_build_object('amount', i.amount::text), i.stage_id, NULL, i.id, o.id, o.merchant_id,
                       o.store_id
                FROM payments_installment i JOIN workflows_serviceorder o ON o.id = i.order_id
                WHERE i.state = 'due' AND i.overdue_reported_at IS NULL AND i.due_at < %s - interval '{hours} hours'
                      AND o.status = 'active'
                RETURNING installment_id)
            UPDATE payments_installment SET overdue_reported_at = %s
            WHERE id IN (SELECT installment_id FROM overdue)""",
               [now, now, now])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--prefix", default="bench", help="merchant slug and user-name prefix")
    parser.add_argument("--fixed-deposit", type=Decimal, default=None, metavar="CNY",
                        help="the wardrobe's booking stage pays this fixed amount (e.g. 500) instead of 10 %%")
    parser.add_argument("--keep-existing", action="store_true",
                        help="add to the database as it is (default: drop, re-create and migrate it)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://.../bench_<name>")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    if not args.keep_existing:
        from bench.common import recreate_database

        recreate_database(url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.CELERY_TASK_ALWAYS_EAGER = True
    if not args.keep_existing:
        call_command("migrate", verbosity=0)
    done = generate(args.orders, stores=args.stores, prefix=args.prefix, fixed_deposit=args.fixed_deposit)
    print(f"generated {done.orders} orders in {done.seconds['total']:.1f} s "
          f"({sum(done.rows.values())} rows); users {done.operator}, {done.admin}, {done.manager}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
