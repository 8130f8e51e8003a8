"""The order detail, cached per order version and viewer, with its ETag.

The key is the order id, the hash of its latest event, the viewer (user id and role), the language the
request is answered in (the display fields are written in it) and FORMAT.
Every change the detail shows (state, stages, visits, check-in/out, installments, ledger,
vouchers, cancellation, tracking link) writes an order event in the same transaction, under the
order's row lock, and each event's hash covers the one before: a committed change is a new key,
so the very next request builds the detail again. What the detail shows that is not the order's
own (store, consumer and technician names, the template name) changes without an event: it is
bounded by the entry's lifetime, `ORDER_DETAIL_CACHE_SECONDS` (60 by default, 0 turns the cache
off). Visibility is not cached: every request asks the database (the same query that reads the
version), so a 404 stays a 404. The tracking link is signed per request (it may carry a
timestamp, and it is absolute for the request's host), never cached; secrets (the owner's
voucher codes) are kept sealed by their section, encrypted as in the database.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from django.utils.http import parse_etags
from rest_framework.utils.encoders import JSONEncoder

from workflows import hooks, selectors
from workflows.detail import order_detail_data
from workflows.models import ServiceOrder

# Bump when the detail's body changes shape, so entries written by the previous code are not served.
FORMAT = 10  # 6: payment_channels; 7: SLA pause; 8: both; 9: display fields; 10: stages' payment_amount
# Sections built per request, never cached; their serialize gets an order with only its id, consumer_id and
# tracking_token_version (the tracking link is signed per request, absolute for its host, the consumer's only).
UNCACHED_SECTIONS = ("tracking_url",)


def _ttl() -> int:
    return int(getattr(settings, "ORDER_DETAIL_CACHE_SECONDS", 60))


def _build(order: ServiceOrder, request) -> dict:
    return order_detail_data(selectors.order_detail_load([order])[0], request)


def _digest(data: dict) -> str:
    body = json.dumps(data, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


class OrderDetail:
    """The body of one order's detail for one request, and its ETag."""

    def __init__(self, data: dict, etag: str):
        self.data = data
        self.etag = etag

    def matches(self, if_none_match: str | None) -> bool:
        """True when the client's copy (If-None-Match) is this one: it may get a 304."""
        if not if_none_match:
            return False
        etags = parse_etags(if_none_match)
        return "*" in etags or any(e.removeprefix("W/") == self.etag for e in etags)


def order_detail(*, user, order_id, request, queryset=None) -> OrderDetail | None:
    """The detail of order `order_id` as `user` sees it, or None when the user may not see it.
    `queryset` narrows the orders further (the API's list filters apply to the detail too)."""
    order = selectors.order_detail_row(user=user, order_id=order_id, queryset=queryset)
    if order is None:
        return None
    pk, tracking_version, consumer_id, event_hash = (order.pk, order.tracking_token_version, order.consumer_id,
                                                     order.detail_version)
    ttl = _ttl()
    language = translation.get_language()
    key = f"order-detail:{FORMAT}:{pk}:{event_hash}:{user.pk}:{user.role}:{language}" if ttl > 0 and event_hash \
        else None
    entry = cache.get(key) if key else None
    if entry is None:
        data = _build(order, request)
        cached = {**data, **dict.fromkeys(UNCACHED_SECTIONS)}  # same keys, same order
        digest = _digest(cached)
        if key:
            for section in hooks.order_sections():
                if section.seal is not None and section.name in cached:
                    cached[section.name] = section.seal(cached[section.name])
            cache.set(key, (cached, digest), ttl)
    else:
        cached, digest = entry
        data = dict(cached)
        stub = ServiceOrder(id=pk, tracking_token_version=tracking_version, consumer_id=consumer_id)
        rows = hooks.OrderDetailRows(order=stub, stages=[], files={}, appointments=[], events=[])
        for section in hooks.order_sections():
            if section.name in UNCACHED_SECTIONS:
                data[section.name] = section.serialize(rows, request)
            elif section.unseal is not None and section.name in data:
                data[section.name] = section.unseal(data[section.name])
    per_request = "|".join(str(data[name]) for name in UNCACHED_SECTIONS if name in data)
    etag = hashlib.blake2b(f"{digest}|{per_request}".encode(), digest_size=16).hexdigest()
    return OrderDetail(data, f'"{etag}"')
