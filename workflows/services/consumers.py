"""Who an order is for: the consumer account that contact details identify, or a new one."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError
from tenancy.models import User
from tenancy.phones import InvalidPhone, normalize_phone

Role = User.Role


def consumer_find_or_create(*, phone: str = "", email: str = "", name: str = "") -> User:
    """The consumer these contact details identify, or a new consumer account.

    The phone is normalised to E.164 first (tenancy/phones.py, region DEFAULT_PHONE_REGION), so any
    spelling of a number (`13800000001`, ` +86 138-0000-0001 `) finds the account stored as
    `+8613800000001`; an invalid number is a 400 on `phone`. Emails match case-insensitively.

    With both a phone and an email:
    - both belong to the same account: that account; neither belongs to any: a new one with both;
    - they belong to two different accounts: 400 on `email`, nothing is created;
    - one belongs to an account and the other is not that account's own (it has another one, or none):
      400 on the field that does not match. The order form never changes an existing account's contact
      details (that would send its owner's messages to whoever typed them) and never guesses which of
      two people is meant: send the matching contact alone to use the account.
    An email shared by several accounts, given alone, is ambiguous: 400 on `email` (give the phone).
    Field errors are keyed `phone` / `email`; order_create_for_contact nests them under `consumer`.
    """
    if phone:
        try:
            phone = normalize_phone(phone)
        except InvalidPhone as exc:
            raise DomainError(exc.message, code="invalid", errors={"phone": [exc.message]}) from None
    email = (email or "").strip()
    if not phone and not email:
        raise DomainError(_("A consumer needs a phone or an email."), code="invalid")
    user = _consumer_matching(phone=phone, email=email)
    if user is not None:
        return user
    username = f"c_{phone.lstrip('+')}" if phone else f"c_{email.lower()}"[:150]
    first, _space, last = (name or "").partition(" ")
    try:
        with transaction.atomic():
            user = User(
                username=username,
                phone=phone or None,
                email=email,
                first_name=first[:150],
                last_name=last[:150],
                role=Role.CONSUMER,
            )
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        # Another request created it meanwhile (or the username is taken): decide again on what is stored now.
        user = _consumer_matching(phone=phone, email=email)
        if user is None:
            raise Conflict(_("Could not create the consumer account; try again.")) from None
    return user


def _consumer_matching(*, phone: str, email: str) -> User | None:
    """The existing consumer account these (normalised) contact details identify, None when neither is
    known; DomainError (400, field errors) when they point at different accounts or at a staff account."""

    def refuse(field: str, message: str):
        return DomainError(message, code="invalid", errors={field: [message]})

    by_phone = User.objects.filter(phone=phone).first() if phone else None
    by_email = list(User.objects.filter(email__iexact=email).order_by("pk")[:2]) if email else []
    if phone and email:
        if by_phone is not None and by_phone.email.strip().lower() != email.lower():
            if by_email:
                raise refuse("email", "This email belongs to a different account than this phone number.")
            raise refuse(
                "email",
                "The account with this phone number has a different email (or none); "
                "send the phone alone to use that account, or check the email.",
            )
        if by_phone is None and by_email:
            raise refuse(
                "phone",
                "The account with this email has a different phone number (or none); "
                "send the email alone to use that account, or check the phone number.",
            )
        user, field = by_phone, "phone"
    elif phone:
        user, field = by_phone, "phone"
    else:
        if len(by_email) > 1:
            raise refuse("email", "More than one account has this email; give the consumer's phone number.")
        user, field = (by_email[0] if by_email else None), "email"
    if user is not None and user.role != Role.CONSUMER:
        raise refuse(field, "That phone or email belongs to a staff account.")
    return user

