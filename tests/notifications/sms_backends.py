"""SMS backends for the tests (set with settings.SMS_BACKEND)."""

from __future__ import annotations

import fcntl
import os
import time

from notifications.sms import BaseSMSBackend, SMSDeliveryError, SMSRejected


class RecordingSMSBackend(BaseSMSBackend):
    sent: list[tuple[str, str]] = []
    references: list[str] = []

    def send(self, phone: str, message: str, *, reference: str, **_) -> str:
        type(self).sent.append((phone, message))
        type(self).references.append(reference)
        return f"rec-{len(type(self).sent)}"


class FailingSMSBackend(BaseSMSBackend):
    """The provider is down: every attempt fails in a way worth retrying."""

    calls = 0

    def send(self, phone: str, message: str, *, reference: str, **_) -> str:
        type(self).calls += 1
        raise SMSDeliveryError("provider timeout")


class FlakySMSBackend(BaseSMSBackend):
    """Fails the first `failures` attempts, then delivers."""

    failures = 2
    calls = 0

    def send(self, phone: str, message: str, *, reference: str, **_) -> str:
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise SMSDeliveryError(f"provider busy ({type(self).calls})")
        return "flaky-ok"


class RejectingSMSBackend(BaseSMSBackend):
    calls = 0

    def send(self, phone: str, message: str, *, reference: str, **_) -> str:
        type(self).calls += 1
        raise SMSRejected("invalid number")


class FileSMSBackend(BaseSMSBackend):
    """Appends one line per message to $NTF_SMS_OUTBOX (used by the real-worker test, where the
    worker is another process). Sleeps a little so two concurrent deliveries really overlap."""

    def send(self, phone: str, message: str, *, reference: str, **_) -> str:
        time.sleep(float(os.environ.get("NTF_SMS_DELAY", "0.5")))
        path = os.environ["NTF_SMS_OUTBOX"]
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(f"{os.getpid()}\t{phone[-4:]}\t{message}\n")
        return f"file:{os.getpid()}"
