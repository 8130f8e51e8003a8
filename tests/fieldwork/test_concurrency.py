"""Racing retries on PostgreSQL: the same check-in sent by two connections at once."""

import threading

import pytest
from django.db import connection

from fieldwork.models import CheckIn
from tests.fieldwork.helpers import check_in_body, job_url
from workflows.models import OrderEvent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_record_one_check_in(client_for, technician, visit):
    body = check_in_body(visit.order)
    barrier = threading.Barrier(4)
    answers = []

    def send():
        client = client_for(technician)
        barrier.wait()
        try:
            response = client.post(job_url(visit, "check-in"), body)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(answers) == 4
    assert {status for status, _ in answers} == {201}
    assert all(a[1] == answers[0][1] for a in answers)
    assert CheckIn.objects.count() == 1
    assert OrderEvent.objects.filter(kind="job.checked_in").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_check_ins_with_different_ids_check_in_once(client_for, technician, visit):
    bodies = [check_in_body(visit.order) for _ in range(3)]
    barrier = threading.Barrier(3)
    statuses = []

    def send(body):
        client = client_for(technician)
        barrier.wait()
        try:
            statuses.append(client.post(job_url(visit, "check-in"), body).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [201, 409, 409]
    assert CheckIn.objects.count() == 1
