import pytest

from tests.factories.vouchers import book_visit, code_of, make_voucher_order, start_visit, voucher_of


@pytest.fixture
def order(store, consumer, store_manager):
    return make_voucher_order(store=store, consumer=consumer, actor=store_manager)


@pytest.fixture
def voucher(order):
    return voucher_of(order)


@pytest.fixture
def code(voucher):
    return code_of(voucher)


@pytest.fixture
def job(order, technician):
    """The visit, booked by the consumer and given to `technician` (the store's only technician)."""
    appointment = book_visit(order)
    assert appointment.technician_id == technician.pk
    return appointment


@pytest.fixture
def started_job(job):
    start_visit(job)
    return job


@pytest.fixture
def redeem(client_for):
    def post(user, code, job=None, **extra):
        body = {"code": code}
        if job is not None:
            body["job"] = job.pk if hasattr(job, "pk") else job
        return client_for(user).post("/api/v1/vouchers/redeem/", body, format="json", **extra)

    return post


@pytest.fixture
def checked_in_job(job):
    from tests.factories.vouchers import check_in

    check_in(job)
    job.refresh_from_db()
    return job
