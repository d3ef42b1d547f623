"""The phone apps' own endpoints (DESIGN 2.9): `/api/v1/osmand` for Traccar Client (the OsmAnd protocol:
query, form or JSON; answered 200 with an empty body once committed) and `/api/v1/owntracks` for OwnTracks
in HTTP mode (JSON with HTTP Basic credentials; answered 200 with a JSON array once committed). Wrong or
revoked credentials get 401, load 503 with Retry-After (never a 429: OwnTracks for iOS deletes a fix
answered with any 4xx; docs/devices.md)."""

import base64
import binascii
import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from harbor_fleet.domain import owntracks_crypto
from harbor_fleet.domain.osmand import OsmandReport, parse_osmand, parse_osmand_batch
from harbor_fleet.domain.owntracks import parse_owntracks
from harbor_fleet.service.devices import DeviceReports, Report
from harbor_fleet.service.errors import (
    InvalidToken,
    MissingToken,
    MixedDevices,
    ServiceError,
    TooManyPositions,
)
from harbor_fleet.web.call import Call, Reply, json_reply, media_type

if TYPE_CHECKING:
    from harbor_fleet.web.api import Api


class DeviceApi:
    def __init__(self, api: "Api") -> None:
        self._api = api

    @property
    def _devices(self) -> DeviceReports:
        return self._api.application.devices

    async def osmand(self, call: Call) -> Reply:
        body = await call.read_body()
        content_type = media_type(call.headers.get("content-type"))
        query = _pairs(call.query_string.decode("latin-1"))
        form = _pairs(body.decode("latin-1")) if content_type == "application/x-www-form-urlencoded" else []
        wants_json = content_type == "application/json" or body.lstrip()[:1] in (b"{", b"[")
        document = _json_or_none(body) if wants_json else None
        now = self._api.application.service.now_micros()
        if isinstance(document, list):
            if len(document) > MAX_BATCH_POSITIONS:  # before any work on it: the body is anyone's
                raise TooManyPositions
            return await self._osmand_batch(parse_osmand_batch(document, now))
        parsed = parse_osmand(query, form, document, now)
        device = await self._devices.device(parsed.device_id)
        # A body that is not JSON can never be: dropped with its reason, or it would block the phone's queue.
        rejected = NOT_JSON if wants_json and document is None else None
        await self._devices.report(device, [_report(parsed, rejected)], "osmand")
        return Reply(200, b"", "text/plain")

    async def _osmand_batch(self, reports: list[OsmandReport]) -> Reply:
        """The SDK's JSON upload: all the positions of one device, answered once all are committed (the SDK
        keeps or deletes the whole batch by the answer). The first id named is the credential (401 and the
        rate limit come before 400, DESIGN 2.8); a position naming no id is that device's too."""
        named = list(dict.fromkeys(report.device_id for report in reports if report.device_id is not None))
        device = await self._devices.device(named[0] if named else None)
        if len(named) > 1:
            raise MixedDevices
        await self._devices.report(device, [_report(report) for report in reports], "osmand")
        return Reply(200, b"", "text/plain")

    async def owntracks(self, call: Call) -> Reply:
        try:
            return await self._owntracks(call)
        except ServiceError as error:
            if error.status == 401:  # RFC 9110: a 401 names the scheme that would do
                error.headers["www-authenticate"] = 'Basic realm="Harbor Fleet", charset="UTF-8"'
            raise

    async def _owntracks(self, call: Call) -> Reply:
        username, password = _basic(call.headers.get("authorization"))
        device = await self._devices.device(password)
        if username != device.device_id:
            raise InvalidToken("the username is not this credential's device")
        body = await call.read_body()
        document = _json_or_none(body)  # the app retries anything but a 200, and would block its queue
        if document is None and body.strip():
            await self._devices.report(device, [Report(None, rejected=NOT_JSON)], "owntracks")
            return json_reply([])
        sealed = device.owntracks_key is not None and _encrypted(document)
        if sealed:
            assert isinstance(document, dict) and device.owntracks_key is not None
            plaintext = owntracks_crypto.decrypt(device.owntracks_key, document.get("data"))
            if plaintext is None:
                await self._devices.report(device, [Report(None, rejected=UNDECRYPTABLE)], "owntracks")
                return json_reply([])
            document = _json_or_none(plaintext)
        parsed = parse_owntracks(document, self._api.application.service.now_micros())
        await self._devices.report(device, [Report(parsed.fix, parsed.battery, parsed.rejected)], "owntracks")
        view = await self._devices.fleet_view(device)  # messages for the app to show
        if sealed and view:
            assert device.owntracks_key is not None
            return json_reply(_sealed(device.owntracks_key, view))
        return json_reply(view)


MAX_BATCH_POSITIONS = 1000  # as a signed batch; the SDK sends at most 100


def _report(parsed: OsmandReport, rejected: str | None = None) -> Report:
    """What the endpoint stores of a parsed report; `rejected` overrides the parser (a body not JSON)."""
    reason = rejected or parsed.rejected
    return Report(None if reason else parsed.fix, parsed.battery, reason, parsed.at)


UNDECRYPTABLE = "payload_undecryptable"  # the device's key does not open it: a wrong key in the app
NOT_JSON = "body_not_json"


def _encrypted(document: object) -> bool:
    return isinstance(document, dict) and document.get("_type") == "encrypted"


def _sealed(key: str, messages: list[dict[str, object]]) -> dict[str, object]:
    """The answer to an encrypted request: one encrypted object wrapping the whole array, the one shape
    both apps open (owntracks/android `Parser.kt`, owntracks/ios `Connection.m` `decrypt`)."""
    return {"_type": "encrypted", "data": owntracks_crypto.encrypt(key, json.dumps(messages).encode())}


def _pairs(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)  # as many as 1 MiB of body holds


def _json_or_none(body: bytes) -> object:
    try:
        return json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return None


def _basic(authorization: str | None) -> tuple[str, str]:
    """HTTP Basic credentials: (username, password)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise MissingToken("HTTP Basic credentials (the device's username and password) are required")
    try:
        username, separator, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise InvalidToken("the Basic credentials cannot be read") from error
    if not separator:
        raise InvalidToken("the Basic credentials have no password")
    return username, password
