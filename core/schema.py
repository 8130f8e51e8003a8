"""The OpenAPI schema documents the error answers every operation can give, in the one error format.

`core.api.exception_handler` renders every error as `{"code", "detail", ...}`; this AutoSchema adds those
responses to each operation from what the operation is (authenticated or public, unsafe, with path or
query parameters, throttled), unless the view already declares that status itself. Clients (and the
schemathesis run in tests/fuzz/) can then rely on the schema for the error paths too.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
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


def _empty_means_absent(parameters: list[dict]) -> list[dict]:
    """Filters and pagination treat `?name=` as if `name` were not sent: say so in their schemas."""
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if parameter.get("in") != "query" or parameter.get("required") or schema.get("type") == "array":
            continue
        if "enum" in schema:
            schema["enum"] = ["", *[value for value in schema["enum"] if value != ""]]
        elif schema.get("type") != "string":
            parameter["schema"] = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
        parameter["allowEmptyValue"] = True
    return parameters


# A wall-clock time such as a store's opening hour ("09:00:00"): local to the store, so without the offset
# JSON Schema's `format: time` (RFC 3339) demands.
LOCAL_TIME = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
              "example": "09:00:00"}


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.TimeField):
            return dict(LOCAL_TIME)
        return super()._map_serializer_field(field, direction, bypass_extensions)

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
