"""Credentials over their life: rotation (two keys at once), revocation seen by every running process
within the credential cache's second, open live streams and map sessions ended by it, and listings that
never show a secret."""

import asyncio
import json
import time
from pathlib import Path

import httpx2
import pytest
import websockets

from conftest import Server, cli, cli_json, harbor_env, ingest
from helpers import eventually

REVOCATION_DEADLINE = 2.0  # the 1 s credential cache plus slack for a busy test machine


def fix(vehicle_id: str = "v1", seconds_ago: float = 1.0) -> dict[str, object]:
    recorded_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - seconds_ago)) + "Z"
    return {"vehicle_id": vehicle_id, "lat": 1.0, "lng": 2.0, "recorded_at": recorded_at}


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "f1")
    cli_json(env, "fleet", "create", "f2")
    return env


def test_a_rotated_key_and_its_predecessor_both_sign_until_the_old_one_is_revoked(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    old = cli_json(env, "key", "create", "--fleet", "f1", "--fleet", "f2")
    first = Server(env, tmp_path / "a.log").start()
    second = Server(env, tmp_path / "b.log").start()
    servers.extend([first, second])
    assert ingest(first.url, "f1", old, [fix("v1", 5)]).status_code == 202  # cached on both from now
    assert ingest(second.url, "f2", old, [fix("v1", 5)]).status_code == 202

    new = cli_json(env, "key", "rotate", old["key_id"])
    assert new["replaces"] == old["key_id"] and new["key_id"] != old["key_id"] and len(new["secret"]) >= 22
    for server, fleet in ((first, "f1"), (second, "f2")):  # the new key has the old one's fleets
        assert ingest(server.url, fleet, new, [fix("v2", 4)]).status_code == 202
        assert ingest(server.url, fleet, old, [fix("v3", 4)]).status_code == 202

    revoked = cli_json(env, "key", "revoke", old["key_id"])
    assert revoked["key_id"] == old["key_id"] and revoked["revoked_at"].endswith("Z")
    for server in (first, second):
        refused = lambda server=server: ingest(server.url, "f1", old, [fix("v4", 3)]).status_code == 401  # noqa: E731
        eventually(refused, timeout=REVOCATION_DEADLINE)
        answer = ingest(server.url, "f1", old, [fix("v4", 3)])
        assert answer.json()["error"]["code"] == "unknown_key"
        assert ingest(server.url, "f1", new, [fix("v5", 2)]).status_code == 202  # the new key keeps working

    listed = cli_json(env, "key", "list", "--fleet", "f1")["keys"]
    assert [(k["key_id"], k["revoked_at"] is not None) for k in listed] == [
        (old["key_id"], True),
        (new["key_id"], False),
    ]
    assert old["secret"] not in json.dumps(listed) and new["secret"] not in json.dumps(listed)
    assert cli_json(env, "key", "revoke", old["key_id"]) == revoked  # again: same answer, still revoked


def test_a_revoked_token_ends_status_reads_live_streams_and_map_sessions(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    token = cli_json(env, "token", "create", "--fleet", "f1")
    other = cli_json(env, "token", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    auth = {"Authorization": f"Bearer {token['token']}"}
    status = f"{server.url}/api/v1/fleets/f1/status"
    assert httpx2.get(status, headers=auth).status_code == 200
    with httpx2.Client(base_url=server.url) as browser:
        assert browser.post("/api/v1/session", json={"token": token["token"]}).status_code == 200
        cookie = browser.cookies["harbor_session"]

    async def stream_then_revoke() -> websockets.ConnectionClosed:
        live = f"ws://127.0.0.1:{server.port}/api/v1/fleets/f1/live"
        async with websockets.connect(live, additional_headers=auth) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            await asyncio.to_thread(cli_json, env, "token", "revoke", token["token_id"])
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(REVOCATION_DEADLINE + 5):  # the CLI's own start-up, then the cache
                    while True:
                        await ws.recv()
            return closed.value

    closed = asyncio.run(stream_then_revoke())
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    eventually(lambda: httpx2.get(status, headers=auth).status_code == 401, timeout=REVOCATION_DEADLINE)
    assert httpx2.get(status, headers=auth).json()["error"]["code"] == "invalid_token"
    ended = httpx2.get(f"{server.url}/api/v1/session", cookies={"harbor_session": cookie})
    assert ended.status_code == 401  # its map session ended with it
    other_auth = {"Authorization": f"Bearer {other['token']}"}
    assert httpx2.get(status, headers=other_auth).status_code == 200  # other tokens are untouched
    listed = cli_json(env, "token", "list", "--fleet", "f1")["tokens"]
    assert {t["token_id"]: t["revoked_at"] is not None for t in listed} == {
        token["token_id"]: True,
        other["token_id"]: False,
    }


def test_revoking_or_rotating_what_does_not_exist_fails_clearly(env: dict[str, str]) -> None:
    for args, code in (
        (("key", "revoke", "key-nope"), "key_not_found"),
        (("token", "revoke", "tok-nope"), "token_not_found"),
        (("key", "rotate", "key-nope"), "key_not_found"),
        (("key", "list", "--fleet", "ghost"), "fleet_not_found"),
    ):
        result = cli(env, *args, "--json", check=False)
        assert result.returncode == 1, args
        assert json.loads(result.stdout)["error"]["code"] == code
    revoked = cli_json(env, "key", "create", "--fleet", "f1")
    cli_json(env, "key", "revoke", revoked["key_id"])
    again = cli(env, "key", "rotate", revoked["key_id"], "--json", check=False)
    assert json.loads(again.stdout)["error"]["code"] == "key_not_found"  # a revoked key is not rotated


def test_the_session_cookie_is_secure_behind_a_tls_proxy_only(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    token = cli_json(env, "token", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    sign_in = f"{server.url}/api/v1/session"
    plain = httpx2.post(sign_in, json={"token": token["token"]}).headers["set-cookie"]
    proxied = httpx2.post(sign_in, json={"token": token["token"]}, headers={"X-Forwarded-Proto": "https"})
    cookie = proxied.headers["set-cookie"]
    assert "secure" not in plain.lower()
    assert "secure" in cookie.lower() and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_secrets_never_reach_the_logs(env: dict[str, str], tmp_path: Path, servers: list[Server]) -> None:
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    log = tmp_path / "server.log"
    server = Server({**env, "HARBOR_LOG_LEVEL": "debug", "HARBOR_ACCESS_LOG": "true"}, log).start()
    servers.append(server)
    auth = {"Authorization": f"Bearer {token['token']}"}
    assert ingest(server.url, "f1", key, [fix()]).status_code == 202
    wrong = {**key, "secret": key["secret"][::-1]}
    assert ingest(server.url, "f1", wrong, [fix()]).status_code == 401  # a failing ingest is logged
    assert httpx2.get(f"{server.url}/api/v1/fleets/f1/status", headers=auth).status_code == 200
    assert httpx2.get(f"{server.url}/api/v1/fleets/f1/status", headers={"Authorization": "Bearer x"}).status_code == 401
    session = httpx2.post(f"{server.url}/api/v1/session", json={"token": token["token"]}).cookies["harbor_session"]
    cli_json(env, "token", "revoke", token["token_id"])
    eventually(lambda: httpx2.get(f"{server.url}/api/v1/fleets/f1/status", headers=auth).status_code == 401)
    server.stop()
    text = log.read_text()
    assert "/api/v1/fleets/f1/positions" in text  # the access log was on: requests were logged
    for secret in (key["secret"], wrong["secret"], token["token"], session):
        assert secret not in text
