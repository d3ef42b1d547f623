"""Operations (DESIGN 2.5) and the generic error bodies (DESIGN 2)."""

from helpers import Harbor, running_harbor


def test_health_and_ready(harbor: Harbor) -> None:
    assert harbor.client.get("/health").status_code == 200
    ready = harbor.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "bus": "ok"}


def test_ready_is_503_while_the_schema_is_older_than_the_code(empty_database_url: str) -> None:
    with running_harbor(empty_database_url, migrate_on_start=False) as harbor:
        ready = harbor.client.get("/ready")
        assert ready.status_code == 503
        error = ready.json()["error"]
        assert error["code"] == "not_ready" and error["message"]
        assert error["checks"]["database"] == "ok"
        assert "older" in error["checks"]["migrations"]
        assert harbor.client.get("/health").status_code == 200


def test_unknown_paths_and_wrong_methods_have_error_bodies(harbor: Harbor) -> None:
    missing = harbor.client.get("/api/v1/nothing")
    wrong = harbor.client.get("/api/v1/fleets/f1/positions")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"]
    assert missing.headers["x-request-id"]


def test_metrics_are_prometheus_text(harbor: Harbor) -> None:
    response = harbor.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
