"""Webhook rules: event types, URLs, addresses refused under HARBOR_WEBHOOK_DENY_PRIVATE, and the retry
schedule (first retry within seconds, doubling, capped, jittered)."""

import pytest

from harbor_fleet.domain.webhooks import InvalidWebhook, check_url, event_types, private_address, retry_delay


def test_event_types_default_to_all_and_are_checked() -> None:
    assert event_types(None) == ["position", "vehicle_status"]
    assert event_types(" vehicle_status , position,vehicle_status") == ["position", "vehicle_status"]
    for bad in ("", ",", "parking", "position,parking"):
        with pytest.raises(InvalidWebhook):
            event_types(bad)


@pytest.mark.parametrize("url", ["ftp://h/x", "https://", "example.com/x", "http://u:p@h/", "http://h:99999/"])
def test_urls_must_be_http_with_a_host_and_no_credentials(url: str) -> None:
    with pytest.raises(InvalidWebhook):
        check_url(url)


def test_a_plain_https_url_is_taken() -> None:
    assert check_url("https://hooks.example.com:8443/harbor?x=1") == "https://hooks.example.com:8443/harbor?x=1"


def test_non_public_addresses_are_found() -> None:
    assert private_address(["93.184.216.34", "2606:2800:220:1::1"]) is None
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1%eth0", "fc00::1"):
        assert private_address(["93.184.216.34", address]) == address


def test_retries_start_within_seconds_double_and_stop_at_the_cap() -> None:
    low, high = (lambda: 0.0), (lambda: 1.0)
    assert [retry_delay(n, 2.0, 60.0, low) for n in (1, 2, 3, 4)] == [1.5, 3.0, 6.0, 12.0]
    assert [retry_delay(n, 2.0, 60.0, high) for n in (1, 2, 3)] == [2.5, 5.0, 10.0]
    assert retry_delay(30, 2.0, 60.0, high) == 75.0  # the cap, plus at most a quarter of it
    assert retry_delay(1, 2.0, 60.0) < 5.0  # DESIGN 2.8: the first retry within 5 s
