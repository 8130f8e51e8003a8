"""The OpenAPI schema documents the error answers every operation can give, in the one error format.

`core.api.exception_handler` renders every error as `{"code", "detail", ...}`; this AutoSchema adds those
responses to each operation from what the operation is (authenticated or public, unsafe, with path or
query parameters, throttled), unless the view already declares that status itself. Clients (and the
schemathesis run in tests/fuzz/) can then rely on the schema for the error paths too.
"""

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorSerializer(serializers.Serializer):
    """Every error: a machine-readable `code`, a human `detail`, and extra fields some errors add
    (`errors` for field errors, `allowed` for invalid transitions, `retry_after`, ...)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.JSONField(required=False, help_text="Field errors, for code `invalid`.")
    allowed = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Triggers the current state allows, for code `invalid_transition`.")


DESCRIPTIONS = {
    400: "Invalid input (field errors under `errors`).",
    401: "Missing or invalid credentials.",
    403: "The caller's role or tier may never do this.",
    404: "Not found, or not visible to the caller.",
    409: "Not allowed in the current state (`invalid_transition`, `guard_failed`, `conflict`).",
    422: "`idempotency_key_reused`: the same Idempotency-Key was sent with a different request.",
    429: "Too many requests; retry after the time in `Retry-After`.",
    503: "The service is briefly unavailable (database unreachable); retry later.",
}


# The body of a refused request, as the workflows API documents its 409s.
ProblemResponse = inline_serializer("Problem", {"code": serializers.CharField(), "detail": serializers.CharField()})


def empty_or(schema: dict) -> dict:
    """The schema of a query parameter that reads `?name=` as if `name` were not sent (filters, pagination, and the
    optional numbers of views that parse their own parameters): the value, or the empty string."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


# Some character that Python's str.strip() (what DRF's trim_whitespace does) keeps. Not `\S`: JSON Schema's regexes
# are ECMA-262's, whose whitespace differs from Python's (U+0085 and U+001C-U+001F are space to Python only, U+FEFF
# to ECMA-262 only), so `"\u0085"` matched `\S` and was refused as blank.
NOT_BLANK = "[^" + "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace()) + "]"


def _empty_means_absent(parameters: list[dict]) -> list[dict]:
    """Filters and pagination treat `?name=` as if `name` were not sent: say so in their schemas."""
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if parameter.get("in") != "query" or parameter.get("required") or schema.get("type") == "array":
            continue
        if "enum" in schema:
            schema["enum"] = ["", *[value for value in schema["enum"] if value != ""]]
        elif schema.get("type") != "string":
            parameter["schema"] = empty_or(schema)
        parameter["allowEmptyValue"] = True
    return parameters


# A wall-clock time such as a store's opening hour ("09:00:00"): local to the store, so without the offset
# JSON Schema's `format: time` (RFC 3339) demands.
LOCAL_TIME = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
              "example": "09:00:00"}


def _up_to(bound: str, *, nonzero: bool = False) -> str:
    """A regex for the integers 0 (or 1 when nonzero) .. int(bound), written without leading zeros."""

    def at_most(digits: str, first: bool) -> str:  # numbers of exactly len(digits) digits, <= digits
        low = 1 if first and (len(digits) > 1 or nonzero) else 0
        top = int(digits[0])
        if len(digits) == 1:
            return f"[{low}-{top}]"
        rest = len(digits) - 1
        head = [f"[{low}-{top - 1}]\\d{{{rest}}}"] if top > low else []
        return "|".join([*head, f"{top}(?:{at_most(digits[1:], False)})"])

    shorter = [("[1-9]" if nonzero else "\\d") if k == 1 else f"[1-9]\\d{{{k - 1}}}" for k in range(1, len(bound))]
    return "|".join([*shorter, at_most(bound, True)])


def _magnitude(whole: int, places: int, bound, *, nonzero: bool) -> str:
    """The unsigned decimals with at most `whole` integer digits and `places` decimals, <= bound if given."""
    limit = 10**whole - 1
    exact = bound is not None and bound == int(bound) and 0 < bound <= limit
    any_frac = f"(?:\\.\\d{{1,{places}}})?" if places else ""
    alternatives = []
    if not exact:
        alternatives.append(f"(?:{'' if nonzero else '0|'}[1-9]\\d{{0,{whole - 1}}}){any_frac}")
    elif int(bound) - 1 >= (1 if nonzero else 0):
        alternatives.append(f"(?:{_up_to(str(int(bound) - 1), nonzero=nonzero)}){any_frac}")
    if nonzero and places:  # 0.x with a non-zero digit among the decimals
        fractions = "|".join(f"0{{{i}}}[1-9]\\d{{0,{places - 1 - i}}}" for i in range(places))
        alternatives.append(f"0\\.(?:{fractions})")
    if exact:
        alternatives.append(f"{int(bound)}" + (f"(?:\\.0{{1,{places}}})?" if places else ""))
    return "|".join(alternatives)


def decimal_pattern(field: serializers.DecimalField) -> str:
    """What the DecimalField accepts as a string: at least one digit, its digits and decimals, no minus sign
    when it refuses negatives, not zero when it refuses zero, within integer bounds; "" (null) when nullable."""
    places = field.decimal_places or 0
    whole = field.max_digits - places if field.max_digits is not None else 30
    low, high = field.min_value, field.max_value
    positive = _magnitude(whole, places, high, nonzero=low is not None and low > 0)
    alternatives = [positive]
    if low is None or low < 0:
        alternatives.append("-(?:" + _magnitude(whole, places, None if low is None else -low, nonzero=False) + ")")
    if field.allow_null:
        alternatives.append("")
    return "^(?:" + "|".join(f"(?:{a})" if a else "" for a in alternatives) + ")$"


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.TimeField):
            return dict(LOCAL_TIME)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.DecimalField) and "pattern" in schema and direction == "request":
            schema["pattern"] = decimal_pattern(field)
        if (isinstance(field, serializers.CharField) and direction == "request" and field.trim_whitespace
                and not field.allow_blank and "pattern" not in schema and schema.get("type") == "string"
                and "format" not in schema and "enum" not in schema
                and not any(isinstance(v, RegexValidator) for v in field.validators)):
            schema["pattern"] = NOT_BLANK  # surrounding whitespace is trimmed, and a blank value refused
        if isinstance(field, serializers.ListField) and not field.allow_empty:
            schema["minItems"] = max(schema.get("minItems", 0), 1)
        return schema

    def _get_filter_parameters(self):
        return _empty_means_absent(super()._get_filter_parameters())

    def _get_pagination_parameters(self):
        return _empty_means_absent(super()._get_pagination_parameters())

    def error_statuses(self, operation: dict) -> list[int]:
        params = operation.get("parameters", [])
        security = operation.get("security", [])
        public = {} in security or not security
        statuses = [503]
        if self.method in UNSAFE or "requestBody" in operation or any(p["in"] == "query" for p in params):
            statuses.append(400)
        if any("tokenAuth" in requirement for requirement in security):
            statuses.append(401)  # a bad token is refused even where no token is needed
        if not public:
            statuses.append(403)
        if self.method in UNSAFE or params:
            statuses.append(404)  # an invisible object (in the path, query or body), or a page past the end
        if self.method in UNSAFE:
            statuses += [409, 422]
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self.error_statuses(operation):
            if str(status) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status))
                response["description"] = DESCRIPTIONS[status]
                responses[str(status)] = response
        return operation


def attachment_schema(*, parameters: list, content_types, not_found: str):
    """Class decorator describing a core.api.AttachmentApi's GET: the file in each type it may have, or the error."""
    return extend_schema_view(get=extend_schema(parameters=parameters, responses={
        **{(200, content_type): OpenApiTypes.BINARY for content_type in content_types},
        404: OpenApiResponse(ErrorSerializer, description=not_found),
    }))

