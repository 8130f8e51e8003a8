"""Write operations of the consumer's page. The stage, visit and payment steps themselves are the
workflows and payments apps' services (the same the API calls); these add the proof of the phone and the
rating.

- codes: the SMS verification code and the device session it opens
- actions: approve, reject, book and move a visit, as the order's consumer
- ratings: the consumer's rating of a completed order
"""

from portal.services.actions import (
    revision_answer,
    visit_book,
    visit_move,
    work_approve,
    work_reject,
)
from portal.services.codes import (
    CodeResult,
    code_send,
    code_verify,
    session_end,
    session_for,
)

__all__ = ["CodeResult", "code_send", "code_verify", "revision_answer", "session_end", "session_for", "visit_book",
           "visit_move", "work_approve", "work_reject"]
