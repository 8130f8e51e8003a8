"""What changed about a technician's visits since they last read their job list.

`on_order_event` (an engine event listener) writes a JobChange for each technician an event concerns, read from
the event's payload alone (no query for the many events that concern no visit):

- `stage.book`: `assigned` for the technician given the visit;
- `appointment.assigned` (staff): `assigned` for the new technician (nothing when it is the same one);
- `stage.reschedule` keeping the technician: `moved`, on the new window;
- `stage.reschedule` to another technician, or a missed visit rebooked: `assigned` for the new one, and (a move)
  `cancelled` on the old window for the technician it was taken from;
- `stage.cancel` (the order): `cancelled` for each technician of the visits it called off.

A visit taken off a technician by staff (`appointment.assigned`) is no longer theirs, so it leaves their list
(their SMS says so, and an action on it answers 409 `stale_job` "reassigned"). `job_list_read` records when the
technician read a day's list (the job list selector compares each change's time with it).
"""

from __future__ import annotations

from datetime import date, datetime

from fieldwork.models import JobChange, JobListRead

Kind = JobChange.Kind
KINDS = frozenset({"stage.book", "stage.reschedule", "appointment.assigned", "stage.cancel"})


def _id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _at(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _changes(event) -> list[tuple[int | None, int | None, datetime | None, str]]:
    """(technician, stage, window start, kind) of each change the event makes."""
    p, stage = event.payload or {}, event.stage_id
    tech, previous = _id(p.get("technician")), _id(p.get("previous"))
    if event.kind == "stage.book":
        return [(tech, stage, _at(p.get("window_start")), Kind.ASSIGNED)]
    if event.kind == "appointment.assigned":
        return [(tech, stage, _at(p.get("window_start")), Kind.ASSIGNED)] if tech != previous else []
    if event.kind == "stage.reschedule":
        if not p.get("missed") and previous == tech:
            return [(tech, stage, _at(p.get("to")), Kind.MOVED)]
        out = [(tech, stage, _at(p.get("to")), Kind.ASSIGNED)]
        if not p.get("missed") and previous:
            out.append((previous, stage, _at(p.get("from")), Kind.CANCELLED))
        return out
    return [(_id(v.get("technician")), _id(v.get("stage")), _at(v.get("window_start")), Kind.CANCELLED)
            for v in p.get("visits") or () if isinstance(v, dict)]


def on_order_event(event) -> None:
    """The engine's event listener: record the job changes an event makes, in its transaction."""
    if event.kind not in KINDS:
        return
    rows = [JobChange(technician_id=t, stage_id=s, window_start=w, kind=k, at=event.created_at)
            for t, s, w, k in _changes(event) if t and s and w]
    if rows:
        JobChange.objects.bulk_create(rows)


def job_list_read(*, technician, day: date, at: datetime) -> None:
    """Record that `technician` read their list of `day` as it was at `at` (one statement, an upsert)."""
    JobListRead.objects.bulk_create([JobListRead(technician=technician, day=day, read_at=at)],
                                    update_conflicts=True, unique_fields=["technician", "day"],
                                    update_fields=["read_at"])
