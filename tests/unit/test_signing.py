"""Request signatures (DESIGN 2.1): HMAC-SHA256 of "<timestamp>." + body, lowercase hex, `v1=` values."""

import hashlib
import hmac

import pytest

from harbor_fleet.domain.signing import TIMESTAMP_TOLERANCE_S, sign, signature_matches, timestamp_fresh

SECRET = b"hfs_0123456789abcdef"
OTHER_SECRET = b"hfs_fedcba9876543210"
TIMESTAMP = "1795683600"
BODY = b'{"fixes":[{"vehicle_id":"truck-1","lat":52.5,"lng":13.4,"recorded_at":"2026-11-26T09:00:00Z"}]}'


def reference(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


GOOD = reference(SECRET, TIMESTAMP, BODY)
WRONG = reference(OTHER_SECRET, TIMESTAMP, BODY)


# --- sign ------------------------------------------------------------------------------------------


def test_sign_is_hmac_sha256_hex_of_timestamp_dot_body() -> None:
    assert sign(SECRET, TIMESTAMP, BODY) == GOOD


def test_sign_known_vector() -> None:
    # HMAC-SHA256(key=b"key", msg=b"1.{}"), computed once outside this project.
    assert sign(b"key", "1", b"{}") == "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"


def test_sign_is_lowercase_hex_of_64_chars() -> None:
    signature = sign(SECRET, TIMESTAMP, BODY)
    assert len(signature) == 64
    assert signature == signature.lower()
    int(signature, 16)


def test_sign_of_empty_body() -> None:
    assert sign(SECRET, TIMESTAMP, b"") == hmac.new(SECRET, TIMESTAMP.encode() + b".", hashlib.sha256).hexdigest()


def test_sign_depends_on_every_input() -> None:
    assert sign(OTHER_SECRET, TIMESTAMP, BODY) != GOOD
    assert sign(SECRET, "1795683601", BODY) != GOOD
    assert sign(SECRET, TIMESTAMP, BODY + b" ") != GOOD


def test_sign_separates_timestamp_and_body_with_a_dot() -> None:
    # Without the separator, ("12", b"3x") and ("1", b"23x") would sign the same bytes.
    assert sign(SECRET, "12", b"3x") != sign(SECRET, "1", b"23x")
    assert sign(SECRET, "12", b"3x") == hmac.new(SECRET, b"12.3x", hashlib.sha256).hexdigest()


# --- signature_matches -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"v1={GOOD}",
        f" v1={GOOD} ",
        f"v1={WRONG},v1={GOOD}",
        f"v1={GOOD},v1={WRONG}",
        f"v1={WRONG}, v1={GOOD}",
        f"v1={WRONG} ,  v1={GOOD}",
        f"v0={WRONG},v1={GOOD}",
        f"v2={GOOD},v1={GOOD}",
    ],
)
def test_signature_matches(header: str) -> None:
    assert signature_matches(SECRET, TIMESTAMP, BODY, header)


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        ",",
        "v1=",
        GOOD,  # no scheme
        f"v2={GOOD}",
        f"V1={GOOD}",
        f"sha256={GOOD}",
        f"v1={GOOD.upper()}",
        f"v1={WRONG}",
        f"v1={WRONG},v1={WRONG}",
        f"v1={GOOD[:-1]}",
        f"v1={GOOD}0",
        f"v1 = {GOOD}",
        f"v1:{GOOD}",
        f"v1={GOOD};v1={WRONG}",
        f"v1=\u00e9{GOOD[1:]}",
    ],
)
def test_signature_rejected(header: str) -> None:
    assert not signature_matches(SECRET, TIMESTAMP, BODY, header)


def test_signature_for_another_timestamp_is_rejected() -> None:
    assert not signature_matches(SECRET, "1795683601", BODY, f"v1={GOOD}")


def test_signature_for_another_body_is_rejected() -> None:
    assert not signature_matches(SECRET, TIMESTAMP, BODY + b"\n", f"v1={GOOD}")


def test_signature_with_another_secret_is_rejected() -> None:
    assert not signature_matches(OTHER_SECRET, TIMESTAMP, BODY, f"v1={GOOD}")


# --- timestamp_fresh -------------------------------------------------------------------------------

NOW = 1_795_683_600.0


def test_tolerance_is_300_seconds() -> None:
    assert TIMESTAMP_TOLERANCE_S == 300


@pytest.mark.parametrize("delta", [0, 1, -1, 299, -299, 300, -300])
def test_timestamp_within_tolerance_is_fresh(delta: int) -> None:
    assert timestamp_fresh(str(int(NOW) + delta), NOW)


@pytest.mark.parametrize("delta", [301, -301, 3600, -3600, -int(NOW)])
def test_timestamp_outside_tolerance_is_stale(delta: int) -> None:
    assert not timestamp_fresh(str(int(NOW) + delta), NOW)


def test_fractional_now() -> None:
    # 300.5 s away is more than 300 s.
    assert not timestamp_fresh("1000", 1300.5)
    assert timestamp_fresh("1000", 1299.5)


def test_negative_integer_timestamp() -> None:
    assert timestamp_fresh("-100", 0.0)
    assert not timestamp_fresh("-301", 0.0)


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        "abc",
        "1.5",
        f"{int(NOW)}.0",
        f" {int(NOW)}",
        f"{int(NOW)} ",
        f"{int(NOW)}\n",
        f"+{int(NOW)}",
        "1e9",
        "0x6B0A7A10",
        "-",
        "1_795_683_600",
        "\uff11\uff17\uff19\uff15\uff16\uff18\uff13\uff16\uff10\uff10",  # fullwidth digits
        "\u0661\u0667\u0669",  # Arabic-Indic digits
        "1" * 400,
    ],
)
def test_timestamp_that_is_not_a_plain_integer_is_not_fresh(timestamp: str) -> None:
    assert not timestamp_fresh(timestamp, NOW)


@pytest.mark.parametrize("timestamp", ["--5", f"--{int(NOW)}", "---1"])
def test_repeated_minus_signs_are_not_fresh(timestamp: str) -> None:
    assert timestamp_fresh(timestamp, NOW) is False
