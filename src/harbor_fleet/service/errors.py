"""Errors the service reports to its callers; each has a stable code (DESIGN 2.8) and an HTTP status."""

from collections.abc import Sequence

from harbor_fleet.domain.fixes import FixError


class ServiceError(Exception):
    status = 500
    code = "internal_error"
    message = "something went wrong on our side"

    def __init__(self, message: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message or self.message)
        self.retry_after = retry_after
        self.headers: dict[str, str] = {}  # more answer headers (an authentication challenge)

    def extra(self) -> dict[str, object]:
        return {}


def _error(name: str, status: int, code: str, message: str) -> type[ServiceError]:
    return type(name, (ServiceError,), {"status": status, "code": code, "message": message, "__doc__": message})


MissingCredentials = _error(
    "MissingCredentials",
    401,
    "missing_credentials",
    "X-Harbor-Key, X-Harbor-Timestamp and X-Harbor-Signature are all required",
)
UnknownKey = _error("UnknownKey", 401, "unknown_key", "the key is unknown or revoked")
StaleTimestamp = _error(
    "StaleTimestamp",
    401,
    "stale_timestamp",
    "X-Harbor-Timestamp must be integer unix seconds within 300 s of server time",
)
BadSignature = _error("BadSignature", 401, "bad_signature", "the signature does not match the body")
MissingToken = _error("MissingToken", 401, "missing_token", "an Authorization: Bearer token is required")
InvalidToken = _error("InvalidToken", 401, "invalid_token", "the token is unknown or revoked")
FleetNotFound = _error("FleetNotFound", 404, "fleet_not_found", "no such fleet")
VehicleNotFound = _error("VehicleNotFound", 404, "vehicle_not_found", "no such vehicle in this fleet")
FleetForbidden = _error("FleetForbidden", 403, "fleet_forbidden", "this credential is not allowed for this fleet")
OriginForbidden = _error(
    "OriginForbidden", 403, "origin_forbidden", "a browser session may open the stream only from this site's pages"
)
MalformedJson = _error("MalformedJson", 400, "malformed_json", "the body is not valid JSON")
InvalidQuery = _error("InvalidQuery", 400, "invalid_query", "a query parameter is invalid")
RateLimited = _error("RateLimited", 429, "rate_limited", "too many requests for this credential; slow down")
Overloaded = _error("Overloaded", 503, "overloaded", "the service is busy; retry shortly")
BodyTooLarge = _error("BodyTooLarge", 413, "body_too_large", "the body is larger than 1 MiB")
UnsupportedMediaType = _error(
    "UnsupportedMediaType", 415, "unsupported_media_type", "the content type must be application/json"
)
MixedDevices = _error(
    "MixedDevices", 400, "mixed_devices", "every position of a batch must name the same device identifier"
)
TooManyPositions = _error("TooManyPositions", 413, "too_many_positions", "a batch holds at most 1000 positions")
Unavailable = _error("Unavailable", 503, "unavailable", "the database is unavailable; retry shortly")


class InvalidFixes(ServiceError):
    status = 422
    code = "invalid_fixes"
    message = "some fixes are invalid; nothing was stored"

    def __init__(self, errors: Sequence[FixError]) -> None:
        super().__init__()
        self.errors = errors

    def extra(self) -> dict[str, object]:
        details = [{"index": e.index, "field": e.field, "message": e.message} for e in self.errors]
        return {"details": details}
