"""JSON responses and the error body every non-2xx answer carries (DESIGN 2)."""

from collections.abc import Mapping

import msgspec
from starlette.responses import Response

from harbor_fleet.service.errors import ServiceError

_encoder = msgspec.json.Encoder()


def json_response(content: object, status_code: int = 200, media_type: str = "application/json") -> Response:
    return Response(_encoder.encode(content), status_code, media_type=media_type)


def error_response(
    status_code: int,
    code: str,
    message: str,
    extra: dict[str, object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, **(extra or {})}}
    return Response(_encoder.encode(body), status_code, headers=headers, media_type="application/json")


def service_error_response(error: ServiceError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return error_response(error.status, error.code, str(error), error.extra(), headers)
