"""The command line (DESIGN 2.6, 2.8): --json output, exit codes, errors on stderr."""

import json

import psycopg
import pytest

from conftest import cli, harbor_env
from harbor_fleet.adapters.postgres import embedded
from helpers import running_harbor


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return harbor_env(database_url=database_url)


def test_fleet_key_and_token_create_print_one_json_object(env: dict[str, str]) -> None:
    fleet = cli(env, "fleet", "create", "depot-1", "--name", "Depot", "--offline-after", "120", "--json")
    assert fleet.stdout.count("\n") == 1 and json.loads(fleet.stdout) == {"fleet_id": "depot-1"}
    key = json.loads(cli(env, "key", "create", "--fleet", "depot-1", "--json").stdout)
    token = json.loads(cli(env, "token", "create", "--fleet", "depot-1", "--json").stdout)
    assert set(key) == {"key_id", "secret"} and len(key["secret"]) >= 22  # at least 128 random bits
    assert set(token) == {"token_id", "token"} and len(token["token"]) >= 22


def test_an_existing_fleet_fails_with_fleet_exists(env: dict[str, str]) -> None:
    cli(env, "fleet", "create", "f1")
    again = cli(env, "fleet", "create", "f1", "--json", check=False)
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"error": {"code": "fleet_exists", "message": "fleet f1 exists already"}}
    assert len(again.stderr.strip().splitlines()) == 1
    plain = cli(env, "fleet", "create", "f1", check=False)
    assert plain.returncode == 1 and plain.stdout == "" and "exists" in plain.stderr


def test_credentials_for_an_unknown_fleet_fail(env: dict[str, str]) -> None:
    result = cli(env, "key", "create", "--fleet", "ghost", "--json", check=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "fleet_not_found"


@pytest.mark.parametrize(
    "args",
    [["fleet", "create"], ["key", "create"], ["bogus"], ["fleet", "create", "f", "--offline-after", "x"]],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str]) -> None:
    assert cli(env, *args, check=False).returncode == 2


def test_bad_settings_are_reported_not_traced(env: dict[str, str]) -> None:
    result = cli(env, "fleet", "create", "f1", "--offline-after", "0", "--json", check=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "invalid_offline_after"


def test_migrate_reports_the_schema_version(empty_database_url: str) -> None:
    env = harbor_env(database_url=empty_database_url)
    first = json.loads(cli(env, "migrate", "--json").stdout)
    second = json.loads(cli(env, "migrate", "--json").stdout)
    assert first["version"] >= 1 and first["applied"]
    assert second == {"version": first["version"], "applied": []}


def test_an_unreachable_database_is_one_clear_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = harbor_env(database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    result = cli(env, "fleet", "create", "f1", "--json", check=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "database_unavailable"
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_app_on_an_external_database_leaves_an_embedded_server_alone(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    embedded_url = embedded.start(tmp_path)
    try:
        with running_harbor(database_url) as harbor:
            assert harbor.client.get("/ready").status_code == 200
        with psycopg.connect(embedded_url) as conn:  # still up after that app stopped
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded.release(tmp_path)


def test_webhook_commands(env: dict[str, str]) -> None:
    cli(env, "fleet", "create", "f1")
    created = cli(env, "webhook", "create", "--fleet", "f1", "--url", "https://example.com/hook", "--json")
    assert created.stdout.count("\n") == 1
    webhook = json.loads(created.stdout)
    assert set(webhook) == {"webhook_id", "secret"} and len(webhook["secret"]) >= 22
    only = cli(env, "webhook", "create", "--fleet", "f1", "--url", "http://example.com/s", "--events", "vehicle_status")
    assert "secret" in only.stdout
    listed = json.loads(cli(env, "webhook", "list", "--fleet", "f1", "--json").stdout)["webhooks"]
    assert [(w["url"], w["events"], w["pending"], w["dead"]) for w in listed] == [
        ("https://example.com/hook", ["position", "vehicle_status"], 0, 0),
        ("http://example.com/s", ["vehicle_status"], 0, 0),
    ]
    assert all("secret" not in w for w in listed)
    assert json.loads(cli(env, "webhook", "deliveries", "--fleet", "f1", "--json").stdout) == {"deliveries": []}
    deleted = json.loads(cli(env, "webhook", "delete", webhook["webhook_id"], "--json").stdout)
    assert deleted == {"webhook_id": webhook["webhook_id"], "deleted": True}
    again = cli(env, "webhook", "delete", webhook["webhook_id"], "--json", check=False)
    assert again.returncode == 1 and json.loads(again.stdout)["error"]["code"] == "webhook_not_found"
    bad = cli(env, "webhook", "create", "--fleet", "f1", "--url", "ftp://x", "--json", check=False)
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "invalid_url"


def test_device_commands(env: dict[str, str]) -> None:
    cli(env, "fleet", "create", "f1")
    local = cli(env, "device", "create", "--fleet", "f1", "--vehicle", "v0")  # unset: HARBOR_HOST:HARBOR_PORT
    assert "http://127.0.0.1:8000/api/v1/osmand" in local.stdout and "phones cannot reach" in local.stderr
    flagged = cli(env, "device", "create", "--fleet", "f1", "--vehicle", "v9", "--public-url", "http://10.0.0.5:8000")
    assert "http://10.0.0.5:8000/api/v1/owntracks" in flagged.stdout and flagged.stderr == ""
    cli(
        env,
        "device",
        "revoke",
        json.loads(cli(env, "device", "list", "--fleet", "f1", "--json").stdout)["devices"][0]["device_id"],
    )
    cli(
        env,
        "device",
        "revoke",
        json.loads(cli(env, "device", "list", "--fleet", "f1", "--json").stdout)["devices"][1]["device_id"],
    )
    public = {**env, "HARBOR_PUBLIC_URL": "https://fleet.example.com/"}
    device = json.loads(cli(public, "device", "create", "--fleet", "f1", "--vehicle", "van-7", "--json").stdout)
    assert set(device) == {"device_id", "fleet_id", "vehicle_id", "token", "osmand", "owntracks"}
    assert (device["fleet_id"], device["vehicle_id"]) == ("f1", "van-7") and len(device["token"]) >= 22
    assert device["osmand"] == {"url": "https://fleet.example.com/api/v1/osmand", "id": device["token"]}
    assert device["owntracks"] == {
        "url": "https://fleet.example.com/api/v1/owntracks",
        "username": device["device_id"],
        "password": device["token"],
        "device": "van-7",
    }
    with psycopg.connect(env["HARBOR_DATABASE_URL"]) as conn:  # stored as a digest, never the token itself
        stored = conn.execute("SELECT token_sha256 FROM devices").fetchone()
    assert stored is not None and device["token"].encode() not in bytes(stored[0])
    listed = json.loads(cli(env, "device", "list", "--fleet", "f1", "--json").stdout)["devices"]
    assert [(d["device_id"], d["vehicle_id"], d["last_seen_at"]) for d in listed if not d["revoked_at"]] == [
        (device["device_id"], "van-7", None)
    ]
    assert device["token"] not in json.dumps(listed)
    revoked = json.loads(cli(env, "device", "revoke", device["device_id"], "--json").stdout)
    again = json.loads(cli(env, "device", "revoke", device["device_id"], "--json").stdout)
    assert revoked["device_id"] == device["device_id"] and again["revoked_at"] == revoked["revoked_at"]
    sealed = json.loads(
        cli(env, "device", "create", "--fleet", "f1", "--vehicle", "v2", "--owntracks-encryption", "--json").stdout
    )
    assert len(sealed["owntracks"]["encryption_key"]) == 32 and "encryption_key" not in device["owntracks"]
    for args, code in [
        (["device", "revoke", "dev-nope"], "device_not_found"),
        (["device", "create", "--fleet", "ghost", "--vehicle", "v1"], "fleet_not_found"),
        (["device", "create", "--fleet", "f1", "--vehicle", "bad id"], "invalid_vehicle_id"),
        (["device", "list", "--fleet", "ghost"], "fleet_not_found"),
    ]:
        failed = cli(env, *args, "--json", check=False)
        assert (failed.returncode, json.loads(failed.stdout)["error"]["code"]) == (1, code)
