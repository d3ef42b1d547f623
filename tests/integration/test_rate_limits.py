"""Rate limits per key and per token (DESIGN 2.8): 429 with Retry-After, after 401 and before 404."""

from helpers import bearer, fix, running_harbor


def test_a_key_over_its_limit_gets_429_and_other_keys_do_not(database_url: str) -> None:
    with running_harbor(database_url, rate_limit_per_second=0.5, rate_limit_burst=2) as harbor:
        harbor.create_fleet("f1")
        key, other = harbor.create_key("f1"), harbor.create_key("f1")
        answers = [harbor.ingest("f1", key, {"fixes": [fix(seconds_ago=n)]}) for n in (1, 2, 3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].json()["error"]["code"] == "rate_limited"
        assert int(answers[2].headers["retry-after"]) >= 1
        assert harbor.ingest("f1", other, {"fixes": [fix(seconds_ago=4)]}).status_code == 202
        assert harbor.sql("SELECT count(*) FROM fixes") == [(3,)]
        # 429 comes before 404: the fleet does not matter once the key is over its limit
        assert harbor.ingest("nope", key, {"fixes": [fix()]}).status_code == 429


def test_a_token_over_its_limit_gets_429(database_url: str) -> None:
    with running_harbor(database_url, rate_limit_per_second=0.5, rate_limit_burst=1) as harbor:
        harbor.create_fleet("f1")
        token = harbor.create_token("f1")
        assert harbor.status("f1", token).status_code == 200
        limited = harbor.client.get("/api/v1/fleets/f1/status", headers=bearer(token))
        assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
        # 401 before 429: a bad token is still a 401
        assert harbor.client.get("/api/v1/fleets/f1/status", headers={"authorization": "Bearer x"}).status_code == 401


def test_a_limit_of_zero_is_off(database_url: str) -> None:
    with running_harbor(database_url, rate_limit_per_second=0, rate_limit_burst=0) as harbor:
        harbor.create_fleet("f1")
        token = harbor.create_token("f1")
        assert {harbor.status("f1", token).status_code for _ in range(30)} == {200}
