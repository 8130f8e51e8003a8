"""The event chain's tail (seq, hash of the order's last event) kept on the order row.

A database trigger on workflows_orderevent (migration 0012) sets it with every event inserted, by whatever code
inserts it, inside the INSERT's own statement: no statement of ours is sent for it. The engine's lock
(`SELECT ... FOR UPDATE` of the order) reads it with the row, so an order's first event in a transaction reads no
tail (workflows.events). Columns on the locked row itself are re-read when a waited lock is granted on PostgreSQL
(a subquery beside the lock would not be: it is evaluated in the statement's old snapshot).

Only the trigger writes these columns: a full `save()` of an order leaves them out, so an instance read before an
event was added can never put the tail back.
"""

from django.db import models

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
# back). On SQLite a table rebuilt by a later migration loses its triggers: tests/workflows/test_event_tail.py fails
# then (the tail on the row would stop at the first event).
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
