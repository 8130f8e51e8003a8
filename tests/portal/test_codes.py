"""Proving it is the consumer: the SMS code's limits (5 minutes, 5 tries, 5 per phone and 20 per address an
hour, kept hashed) and the device session it opens (30 days, one order, ended by logout or a revoked link)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from core.errors import DomainError
from notifications.services import tracking_link_revoke
from portal import services
from portal.models import ConsumerSession, VerificationCode
from portal.services.codes import TooManyCodes
from tests.factories import ConsumerFactory
from tests.notifications.sms_backends import FailingSMSBackend
from tests.portal.conftest import last_code
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


def send(order, ip="203.0.113.5"):
    return services.code_send(order=order, ip=ip)


def test_the_code_goes_to_the_orders_consumer_phone_and_only_its_hash_is_kept(design_order, sms, consumer):
    row = send(design_order)
    (phone, text), = sms.sent
    code = last_code(sms)
    assert phone == consumer.phone and len(code) == 6
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at - row.created_at == timedelta(minutes=5)
    event = OrderEvent.objects.filter(order=design_order, kind="portal.code_sent").get()
    assert event.payload["code"] == row.pk and code not in str(event.payload)
    assert sms.references == [f"portal-code-{row.pk}"]


def test_the_right_code_opens_a_session_once(design_order, sms):
    send(design_order)
    code = last_code(sms)
    result = services.code_verify(order=design_order, code=code)
    assert result.ok and result.session_key
    session = services.session_for(order=design_order, key=result.session_key)
    assert session is not None and session.expires_at - session.created_at == timedelta(days=30)
    assert session.key_hash != result.session_key  # only its hash is kept
    assert OrderEvent.objects.filter(order=design_order, kind="portal.session_opened").count() == 1
    again = services.code_verify(order=design_order, code=code)
    assert (again.ok, again.code) == (False, "no_code")


def test_five_wrong_tries_lock_the_code(design_order, sms):
    send(design_order)
    code = last_code(sms)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    left = [services.code_verify(order=design_order, code=wrong) for _ in range(4)]
    assert [(r.code, r.tries_left) for r in left] == [("code_wrong", 4), ("code_wrong", 3), ("code_wrong", 2),
                                                     ("code_wrong", 1)]
    assert services.code_verify(order=design_order, code=wrong).code == "code_locked"
    # Locked: even the right code no longer opens anything, and the tries stop counting.
    assert services.code_verify(order=design_order, code=code).code == "code_locked"
    assert VerificationCode.objects.get().attempts == 5
    assert OrderEvent.objects.filter(order=design_order, kind="portal.code_locked").count() == 1
    assert not ConsumerSession.objects.exists()
    # A new code works.
    send(design_order)
    assert services.code_verify(order=design_order, code=last_code(sms)).ok


def test_a_code_expires_after_five_minutes(design_order, sms):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(design_order)
        clock.shift(timedelta(minutes=5, seconds=1))
        assert services.code_verify(order=design_order, code=last_code(sms)).code == "code_expired"


def test_only_the_newest_code_counts(design_order, sms):
    send(design_order)
    first = last_code(sms)
    send(design_order)
    newest = last_code(sms)
    if first != newest:
        assert services.code_verify(order=design_order, code=first).code == "code_wrong"
    assert services.code_verify(order=design_order, code=newest).ok


def test_at_most_five_codes_per_phone_an_hour_across_its_orders(design_order, sms, store, consumer, store_manager):
    from tests.portal.conftest import make_design_order

    other = make_design_order(store=store, consumer=consumer, manager=store_manager)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for i in range(5):
            send(design_order if i % 2 else other, ip=f"198.51.100.{i}")
        with pytest.raises(TooManyCodes) as exc:
            send(design_order, ip="198.51.100.99")
        assert (exc.value.code, exc.value.status_code) == ("too_many_codes", 429)
        assert len(sms.sent) == 5
        clock.shift(timedelta(hours=1, seconds=1))
        send(design_order)
    assert len(sms.sent) == 6


def test_at_most_twenty_codes_per_address_an_hour(design_order, sms, settings):
    settings.PORTAL_CODES_PER_PHONE_PER_HOUR = 100  # the phone's own limit out of the way
    for _ in range(20):
        send(design_order, ip="203.0.113.7")
    with pytest.raises(TooManyCodes):
        send(design_order, ip="203.0.113.7")
    send(design_order, ip="203.0.113.8")  # another address still may
    assert len(sms.sent) == 21


def test_an_order_without_a_phone_gets_no_code(design_order, consumer):
    type(consumer).objects.filter(pk=consumer.pk).update(phone=None)
    with pytest.raises(DomainError) as exc:
        send(design_order)
    assert exc.value.code == "no_phone"


def test_an_sms_that_cannot_be_sent_is_a_clear_refusal(design_order, settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.FailingSMSBackend"
    FailingSMSBackend.calls = 0
    with pytest.raises(DomainError) as exc:
        send(design_order)
    assert (exc.value.code, exc.value.status_code, FailingSMSBackend.calls) == ("sms_failed", 400, 1)


@pytest.fixture
def opened(design_order, sms):
    send(design_order)
    return services.code_verify(order=design_order, code=last_code(sms)).session_key


def test_a_session_is_for_its_order_only(opened, design_order, store, store_manager):
    from tests.portal.conftest import make_design_order

    other = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    assert services.session_for(order=design_order, key=opened) is not None
    assert services.session_for(order=other, key=opened) is None
    assert services.session_for(order=design_order, key="forged") is None
    assert services.session_for(order=design_order, key="") is None


def test_a_session_lasts_thirty_days(opened, design_order):
    with time_machine.travel(timezone.now() + timedelta(days=29, hours=23), tick=False):
        assert services.session_for(order=design_order, key=opened) is not None
    with time_machine.travel(timezone.now() + timedelta(days=30, minutes=1), tick=False):
        assert services.session_for(order=design_order, key=opened) is None


def test_revoking_the_link_ends_the_session(opened, design_order, store_manager):
    tracking_link_revoke(order=design_order, actor=store_manager)
    design_order.refresh_from_db()
    assert services.session_for(order=design_order, key=opened) is None


def test_logging_out_ends_the_session(opened, design_order):
    assert services.session_end(order=design_order, key=opened) is True
    assert services.session_for(order=design_order, key=opened) is None
    assert services.session_end(order=design_order, key=opened) is False
    assert OrderEvent.objects.filter(order=design_order, kind="portal.session_ended").count() == 1
