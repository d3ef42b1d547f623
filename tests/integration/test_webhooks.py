"""Webhooks (DESIGN 2.7, 2.8) with a real HTTP receiver on this machine: each event of the chosen types
is POSTed, signed like ingest; failures are retried with the same event id until a 2xx; deliveries that
run out of attempts are recorded dead and shown; a receiver that hangs never holds up ingest."""

import time
from collections.abc import Iterator
from functools import partial

import pytest

from harbor_fleet.domain.signing import signature_matches, timestamp_fresh
from harbor_fleet.service.admin import AdminError, IssuedWebhook
from helpers import Harbor, Receiver, eventually, fix, receiving, running_harbor


@pytest.fixture
def harbor(database_url: str) -> Iterator[Harbor]:
    with running_harbor(database_url, webhook_retry_base=0.2, webhook_max_attempts=4, webhook_timeout=5) as running:
        running.create_fleet("f1")
        yield running


def create_webhook(harbor: Harbor, url: str, events: str | None = None) -> IssuedWebhook:
    return harbor.call(partial(harbor.application.admin.create_webhook, "f1", url, events))  # type: ignore[no-any-return]


def deliveries(harbor: Harbor, status: str | None = None) -> list:  # type: ignore[type-arg]
    return harbor.call(partial(harbor.application.admin.deliveries, "f1", status, 100))  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def test_a_receiver_failing_twice_gets_the_event_three_times_with_one_id_and_valid_signatures(
    harbor: Harbor, receiver: Receiver
) -> None:
    receiver.answers = [500, 503]
    webhook = create_webhook(harbor, receiver.url)
    key = harbor.create_key("f1")
    sent = fix("v1", speed_kmh=12.5)
    assert harbor.ingest("f1", key, {"fixes": [sent]}).status_code == 202
    eventually(lambda: [d.status for d in deliveries(harbor)] == ["delivered"], timeout=15)
    assert len(receiver.received) == 3
    bodies = receiver.bodies()
    assert bodies[0] == {
        "id": "f1:1",
        "fleet_id": "f1",
        "type": "position",
        "seq": 1,
        "vehicle_id": "v1",
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": sent["recorded_at"],
        "speed_kmh": 12.5,
        "heading_deg": None,
        "accuracy_m": None,
    }
    assert bodies == [bodies[0]] * 3  # the same event, the same id, every time
    for headers, body in receiver.received:
        timestamp = headers["x-harbor-timestamp"]
        assert timestamp_fresh(timestamp, time.time())
        assert signature_matches(webhook.secret.encode(), timestamp, body, headers["x-harbor-signature"])
        assert headers["content-type"] == "application/json"
    (delivery,) = deliveries(harbor)
    assert (delivery.attempts, delivery.last_status, delivery.event_id) == (3, 200, "f1:1")


def test_deliveries_that_run_out_of_attempts_are_dead_and_shown(harbor: Harbor, receiver: Receiver) -> None:
    receiver.answers = [500] * 10
    create_webhook(harbor, receiver.url)
    assert harbor.ingest("f1", harbor.create_key("f1"), {"fixes": [fix("v1")]}).status_code == 202
    eventually(lambda: [d.status for d in deliveries(harbor)] == ["dead"], timeout=20)
    (dead,) = deliveries(harbor, "dead")
    assert (dead.attempts, dead.last_status, dead.last_error) == (4, 500, "answered 500")
    assert len(receiver.received) == 4
    (listed,) = harbor.call(partial(harbor.application.admin.list_webhooks, "f1"))
    assert (listed.pending, listed.dead) == (0, 1)


def test_a_hanging_receiver_does_not_hold_up_ingest(harbor: Harbor, receiver: Receiver) -> None:
    receiver.hold.clear()
    create_webhook(harbor, receiver.url)
    key = harbor.create_key("f1")
    assert harbor.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=2)]}).status_code == 202
    eventually(lambda: len(receiver.received) == 1, timeout=10)  # the delivery is now hanging
    answers = [harbor.ingest("f1", key, {"fixes": [fix(f"v{n}", seconds_ago=1)]}).status_code for n in range(2, 7)]
    assert answers == [202] * 5 and not receiver.hold.is_set()  # all answered while it still hangs
    receiver.hold.set()
    eventually(lambda: sorted(d.status for d in deliveries(harbor)) == ["delivered"] * 6, timeout=15)


def test_a_webhook_gets_only_the_event_types_it_chose(harbor: Harbor, receiver: Receiver) -> None:
    harbor.create_fleet("fast", offline_after_s=1)
    admin = harbor.application.admin
    harbor.call(partial(admin.create_webhook, "fast", receiver.url, "vehicle_status"))
    sent = fix("v1", seconds_ago=0)
    assert harbor.ingest("fast", harbor.create_key("fast"), {"fixes": [sent]}).status_code == 202
    assert harbor.call(partial(admin.deliveries, "fast", None, 100)) == []  # the outbox is written with the event
    eventually(lambda: len(receiver.received) == 1, timeout=15)
    (body,) = receiver.bodies()
    assert {k: v for k, v in body.items() if k != "at"} == {
        "id": "fast:2",
        "fleet_id": "fast",
        "type": "vehicle_status",
        "seq": 2,
        "vehicle_id": "v1",
        "status": "offline",
    }
    assert str(body["at"]) > sent["recorded_at"]


def test_bad_webhooks_are_refused(harbor: Harbor, database_url: str) -> None:
    for url, events, code in [
        ("ftp://example.com/x", None, "invalid_url"),
        ("http:///no-host", None, "invalid_url"),
        ("https://user:pw@example.com/", None, "invalid_url"),
        ("https://example.com/", "position,parking", "invalid_events"),
    ]:
        with pytest.raises(AdminError) as refused:
            create_webhook(harbor, url, events)
        assert refused.value.code == code
    with running_harbor(database_url, webhook_deny_private=True) as strict, pytest.raises(AdminError) as refused:
        strict.call(partial(strict.application.admin.create_webhook, "f1", "http://127.0.0.1:9/hook", None))
    assert refused.value.code == "private_url"


def test_a_receiver_that_never_answers_times_out_and_the_delivery_dies(database_url: str, receiver: Receiver) -> None:
    receiver.hold.clear()  # it takes the request and says nothing
    with running_harbor(database_url, webhook_timeout=0.5, webhook_max_attempts=2, webhook_retry_base=0.1) as harbor:
        harbor.create_fleet("f1")
        create_webhook(harbor, receiver.url)
        assert harbor.ingest("f1", harbor.create_key("f1"), {"fixes": [fix("v1")]}).status_code == 202
        eventually(lambda: [d.status for d in deliveries(harbor)] == ["dead"], timeout=15)
        (dead,) = deliveries(harbor)
    assert (dead.attempts, dead.last_status, dead.last_error) == (2, None, "no answer within 0.5 s")
    assert len(receiver.received) == 2
