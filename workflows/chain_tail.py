"""The event chain's tail (seq, hash of the order's last event) kept on the order row.

A database trigger on workflows_orderevent (migration 0012) sets it with every event inserted, by whatever code
inserts it, inside the INSERT's own statement: no statement of ours is sent for it. The engine's lock
(`SELECT ... FOR UPDATE` of the order) reads it with the row, so an order's first event in a transaction reads no
tail (workflows.events). Columns on the locked row itself are re-read when a waited lock is granted on PostgreSQL
(a subquery beside the lock would not be: it is evaluated in the statement's old snapshot).

Only the trigger writes these columns: a full `save()` of an order leaves them out, so an instance read before an
event was added can never put the tail back.
"""

from django.db import connections, models

TAIL_FIELDS = ("event_tail_seq", "event_tail_hash")


class EventChainTail(models.Model):
    event_tail_seq = models.PositiveIntegerField(default=0, editable=False)
    event_tail_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if kwargs.get("update_fields") is None and not self._state.adding and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in TAIL_FIELDS]
        super().save(*args, **kwargs)


# The trigger: the tail moves forward only (rows inserted out of order, e.g. by bench/generate.py, cannot move it
# back). On SQLite a table rebuilt by a later migration loses its triggers: every `migrate` ends by putting it back
# when it is missing (ensure_tail_trigger, connected in workflows.apps).
TRIGGER_SQL = {
    "postgresql": ["""
CREATE OR REPLACE FUNCTION workflows_orderevent_tail() RETURNS trigger AS $$
BEGIN
    UPDATE workflows_serviceorder SET event_tail_seq = NEW.seq, event_tail_hash = NEW.hash
     WHERE id = NEW.order_id AND event_tail_seq < NEW.seq;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""", """
DROP TRIGGER IF EXISTS workflows_orderevent_tail ON workflows_orderevent""", """
CREATE TRIGGER workflows_orderevent_tail AFTER INSERT ON workflows_orderevent
    FOR EACH ROW EXECUTE FUNCTION workflows_orderevent_tail()"""],
    "sqlite": ["""
DROP TRIGGER IF EXISTS workflows_orderevent_tail""", """
CREATE TRIGGER workflows_orderevent_tail AFTER INSERT ON workflows_orderevent
BEGIN
    UPDATE workflows_serviceorder SET event_tail_seq = NEW.seq, event_tail_hash = NEW.hash
     WHERE id = NEW.order_id AND event_tail_seq < NEW.seq;
END"""],
}
DROP_TRIGGER_SQL = {
    "postgresql": ["DROP TRIGGER IF EXISTS workflows_orderevent_tail ON workflows_orderevent",
                   "DROP FUNCTION IF EXISTS workflows_orderevent_tail()"],
    "sqlite": ["DROP TRIGGER IF EXISTS workflows_orderevent_tail"],
}
# The data migration: each existing order's tail from its log.
FILL_SQL = """
UPDATE workflows_serviceorder SET
    event_tail_seq = COALESCE((SELECT MAX(e.seq) FROM workflows_orderevent e
                               WHERE e.order_id = workflows_serviceorder.id), 0),
    event_tail_hash = COALESCE((SELECT e.hash FROM workflows_orderevent e WHERE e.order_id = workflows_serviceorder.id
                                ORDER BY e.seq DESC LIMIT 1), '')"""

TRIGGER_EXISTS_SQL = {
    "postgresql": "SELECT 1 FROM pg_trigger WHERE tgname = 'workflows_orderevent_tail' AND NOT tgisinternal",
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'workflows_orderevent_tail'",
}


def ensure_tail_trigger(*, using: str, **kwargs) -> bool:
    """After a `migrate` (post_migrate): create the trigger when the tail columns exist and the trigger does not. A
    SQLite migration that rebuilds workflows_orderevent (any AlterField on it) drops the table's triggers; without
    it, the tail on the row would stop moving and the order's next transaction would write a duplicate seq. Only
    when missing (re-creating it on PostgreSQL would lock the event table on every deploy), and then every order's
    tail is read again from its log. True if created."""
    connection = connections[using]
    if connection.vendor not in TRIGGER_SQL:
        return False
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if "workflows_orderevent" not in tables or "workflows_serviceorder" not in tables:
            return False
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "workflows_serviceorder")}
    if not set(TAIL_FIELDS) <= columns:  # migrated back before the tail (0012): no trigger to keep
        return False
    with connection.cursor() as cursor:
        cursor.execute(TRIGGER_EXISTS_SQL[connection.vendor])
        if cursor.fetchone():
            return False
        for statement in TRIGGER_SQL[connection.vendor]:
            cursor.execute(statement)
        cursor.execute(FILL_SQL)  # the tails that stopped while it was missing (every order: a rare repair)
    return True
