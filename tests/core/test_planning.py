"""plans_for_short_reads: the SLA scan's reads planned without parallel workers or JIT, and the connection given
back as it was (a long-lived worker's connection serves every other task after the scan)."""

import pytest
from django.db import connection, transaction

from core.planning import plans_for_short_reads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_inside_no_parallel_workers_nor_jit_and_after_the_connection_as_it_was():
    before = (show("max_parallel_workers_per_gather"), show("jit"))
    assert before != ("0", "off")  # the server's defaults, or the test proves nothing
    with plans_for_short_reads():
        assert (show("max_parallel_workers_per_gather"), show("jit")) == ("0", "off")
    assert (show("max_parallel_workers_per_gather"), show("jit")) == before


def test_put_back_when_the_work_inside_fails():
    before = show("max_parallel_workers_per_gather")
    with pytest.raises(ZeroDivisionError), plans_for_short_reads():
        1 / 0  # noqa: B018 - the failure inside
    assert show("max_parallel_workers_per_gather") == before


def test_inside_a_transaction_the_settings_end_with_it():
    before = show("jit")
    with transaction.atomic():
        with plans_for_short_reads():
            assert show("jit") == "off"
        assert show("jit") == "off"  # SET LOCAL: until the transaction ends
    assert show("jit") == before
