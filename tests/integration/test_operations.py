"""Operations (DESIGN 2.5) and the generic error bodies (DESIGN 2)."""

from helpers import Harbor, defer_job, eventually, running_harbor


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


def test_ready_and_metrics_show_the_job_queue(harbor: Harbor) -> None:
    jobs = lambda: harbor.client.get("/ready").json()["jobs"]  # noqa: E731
    assert jobs()["failed"] == 0
    # A job no worker knows fails (and stays, to inspect): the queue's figures show it.
    defer_job(harbor.database_url, "harbor:no_such_task")
    eventually(lambda: jobs()["failed"] == 1, timeout=15)  # the worker may still be starting
    assert jobs()["waiting"] >= 0 and jobs()["oldest_waiting_seconds"] >= 0
    metrics = harbor.client.get("/metrics").text
    assert "harbor_jobs_failed 1.0" in metrics
    assert "harbor_jobs_waiting " in metrics and "harbor_jobs_oldest_waiting_seconds " in metrics
