"""Structured logs: one JSON object per line on stderr, with the request id on every line of a request."""

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

# The id of the request being served; each request runs in its own task, so setting it is enough.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _drop_color_message(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's terminal copy of the message, with ANSI escapes
    return event


_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    _add_request_id,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
    _drop_color_message,
]


_CONNECTION_LINES = ("connection open", "connection closed")


def _per_connection_lines(record: logging.LogRecord) -> bool:
    """uvicorn logs every WebSocket handshake and connection at info level: access log, in effect."""
    if record.levelno > logging.INFO:
        return True
    message = record.getMessage()
    return not (message in _CONNECTION_LINES or '"WebSocket ' in message)


def _denial_noise(record: logging.LogRecord) -> bool:
    """uvicorn's sans-I/O WebSocket protocol logs this error after every refused handshake (a denial
    response), although the handshake was answered; the app never returns without answering otherwise."""
    return record.getMessage() != "ASGI callable returned without completing handshake."


def configure_logging(level: str = "info", access_log: bool = False) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its start-up chatter is not ours to log
    # The job queue logs every job it defers, starts and finishes at info: several a second, by design.
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = not access_log
    error_log = logging.getLogger("uvicorn.error")
    error_log.filters[:] = [_denial_noise] if access_log else [_denial_noise, _per_connection_lines]
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
