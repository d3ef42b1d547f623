"""Nothing from outside grows memory: ids in requests never create state for fleets, keys or tokens
that do not exist (no tracker, no cache entry, no rate bucket, no live session)."""

import pytest
from starlette.testclient import WebSocketDenialResponse

from helpers import Harbor, bearer, encode, fix, signed_headers


def test_requests_naming_what_does_not_exist_leave_no_state_behind(harbor: Harbor) -> None:
    harbor.create_fleet("f1")
    key = harbor.create_key("f1")
    token = harbor.create_token("f1")
    app = harbor.application
    credentials = app.service.credentials
    for n in range(200):
        ghost = f"ghost-{n}"
        raw = encode({"fixes": [fix()]})
        assert harbor.ingest(ghost, key, {"fixes": [fix()]}).status_code == 404
        assert harbor.client.get(f"/api/v1/fleets/{ghost}/status", headers=bearer(token)).status_code == 404
        track = f"/api/v1/fleets/{ghost}/vehicles/v{n}/track"
        assert harbor.client.get(track, headers=bearer(token)).status_code == 404
        forged = {**signed_headers(key, raw), "x-harbor-key": f"key-{n}"}
        assert harbor.client.post("/api/v1/fleets/f1/positions", content=raw, headers=forged).status_code == 401
        unknown_token = {"authorization": f"Bearer not-a-token-{n}"}
        assert harbor.client.get("/api/v1/fleets/f1/status", headers=unknown_token).status_code == 401
        if n % 20 == 0:
            live = f"/api/v1/fleets/{ghost}/live"
            with pytest.raises(WebSocketDenialResponse), harbor.client.websocket_connect(live, headers=bearer(token)):
                pass
    assert app.trackers._trackers == {}  # not even for f1: nothing asked for it
    assert app.live_sessions.count == 0
    assert set(credentials.fleets._entries) == set()  # "not found" is never remembered
    assert len(credentials._keys._entries) == 1 and len(credentials._tokens._entries) == 1
    assert set(credentials._limiter._buckets) == {f"key:{key.key_id}", f"token:{token.token_id}"}
