from django.db import models


class IdempotencyKey(models.Model):
    """The first response to an unsafe request with an Idempotency-Key, per caller.

    The unique constraint on (caller, key) is what makes two concurrent requests with one key
    do the work once: the second insert fails and that request answers 409 or the replay.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    caller = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="unique_idempotency_key_per_caller")
        ]

    def __str__(self) -> str:
        return f"{self.caller}:{self.key}"
