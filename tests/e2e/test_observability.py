"""What an on-call engineer reads, from a real server: /metrics of `serve --workers 2` counts both worker
processes whichever one answers the scrape; the logs are one JSON object per line, a refused ingest's line
carries the request id, and no secret (key secret, signature, token) is ever written."""

import json
import time
from pathlib import Path

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from conftest import Server, cli_json, harbor_env, ingest, signed
from helpers import eventually


def now_fix(vehicle_id: str) -> dict[str, object]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 2)) + ".000000Z"
    return {"vehicle_id": vehicle_id, "lat": 1.0, "lng": 2.0, "recorded_at": stamp}


def samples(url: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples called `name`, scraped on a new connection (the kernel picks the worker)."""
    text = httpx2.get(f"{url}/metrics").text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_metrics_of_two_workers_are_counted_together(database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    env = harbor_env(database_url=database_url, workers="2")
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "workers.log").start()
    servers.append(server)

    def pids() -> set[str]:  # one memory series per live worker process
        return {labels["pid"] for labels, _ in samples(server.url, "harbor_process_resident_memory_bytes")}

    eventually(lambda: len(pids()) == 2, timeout=30)
    sent = 20
    for n in range(sent):  # each request a new connection: the kernel spreads them over the workers
        assert ingest(server.url, "f1", key, [now_fix(f"v{n}")]).status_code == 202

    def accepted() -> float:
        return sum(
            value for labels, value in samples(server.url, "harbor_fixes_total") if labels["outcome"] == "accepted"
        )

    assert [accepted() for _ in range(6)] == [sent] * 6  # whichever worker answers, both are counted


def test_logs_are_json_lines_with_request_ids_and_no_secrets(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    log_path = tmp_path / "serve.log"
    server = Server(env, log_path).start()
    servers.append(server)

    body = json.dumps({"fixes": [now_fix("v1")]}).encode()
    forged = {**signed(key, body), "x-harbor-signature": "v1=" + "0" * 64, "x-request-id": "req-forged-1"}
    refused = httpx2.post(f"{server.url}/api/v1/fleets/f1/positions", content=body, headers=forged)
    assert (refused.status_code, refused.headers["x-request-id"]) == (401, "req-forged-1")
    invalid = json.dumps({"fixes": [{**now_fix("v2"), "lat": 123.0}]}).encode()
    headers = {**signed(key, invalid), "x-request-id": "req-invalid-2", "authorization": f"Bearer {token['token']}"}
    answer = httpx2.post(f"{server.url}/api/v1/fleets/f1/positions", content=invalid, headers=headers)
    assert answer.status_code == 422

    def lines() -> list[dict[str, object]]:
        return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]  # JSON, each

    eventually(lambda: {"req-forged-1", "req-invalid-2"} <= {line.get("request_id") for line in lines()})
    by_request = {line["request_id"]: line for line in lines() if line.get("event") == "ingest refused"}
    assert by_request["req-forged-1"]["code"] == "bad_signature"
    assert (by_request["req-invalid-2"]["code"], by_request["req-invalid-2"]["key_id"]) == (
        "invalid_fixes",
        key["key_id"],
    )
    written = log_path.read_text()
    for secret in (key["secret"], token["token"], forged["x-harbor-signature"], headers["x-harbor-signature"]):
        assert secret not in written
