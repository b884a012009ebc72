"""MPC_REDIS_URL: the forms operators use (one server, TLS and ACL users, Sentinel) are
read as redis-py reads them; anything else stops start-up naming the variable."""

from __future__ import annotations

import pytest

from queues.redis import ReplicaAcks, connect, database_of
from queues.redis_url import parse_sentinel_url
from queues.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@10.0.0.1:6380/2",
        "rediss://mpc-user:s3cret@redis.example.com:6380/1?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem",
        "unix:///run/redis.sock?db=3",
        "redis+sentinel://s1:26379,s2:26379,s3/mymaster/0",
        "rediss+sentinel://user:pw@[::1]:26380,s2:26379/mymaster?ssl_cert_reqs=none",
    ],
)
def test_operators_urls_are_accepted(url: str) -> None:
    assert load_settings({"MPC_REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://host:6379",
        "redis://",
        "redis://host:port/0",
        "redis://host:6379/zero",
        "rediss://host:6380/0?socket_timeout=soon",
        "unix://",
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:26379/",
        "redis+sentinel://s1:26379,/mymaster/0",
        "redis+sentinel://s1:notaport/mymaster",
        "redis+sentinel://s1:26379/mymaster/db",
        "redis+sentinel://s1:26379/mymaster/0/extra",
        "redis+sentinel://s1:70000/mymaster",
    ],
)
def test_bad_urls_stop_start_up_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MPC_REDIS_URL": url})
    assert str(caught.value).startswith("MPC_REDIS_URL must be a URL starting with redis://")


def test_a_sentinel_url_names_its_sentinels_service_database_and_credentials() -> None:
    target = parse_sentinel_url(
        "rediss+sentinel://app:p%40ss@s1:26379,[::1]:26380,s3/mymaster/4?sentinel_password=sp&ssl_ca_certs=/etc/ca.pem"
    )
    assert target.sentinels == (("s1", 26379), ("::1", 26380), ("s3", 26379))
    assert (target.service, target.db, target.tls) == ("mymaster", 4, True)
    assert (target.username, target.password) == ("app", "p@ss")
    assert (target.sentinel_username, target.sentinel_password) == (None, "sp")
    assert dict(target.options) == {"ssl_ca_certs": "/etc/ca.pem"}


async def test_clients_talk_to_the_urls_database_whatever_the_form() -> None:
    plain = connect("redis://127.0.0.1:6379/5")
    sentinel = connect("redis+sentinel://127.0.0.1:1/mymaster/7")  # no connection until used
    try:
        assert database_of(plain) == 5
        assert database_of(sentinel) == 7
    finally:
        await plain.aclose()
        await sentinel.aclose()


def test_submissions_wait_for_a_replica_by_default_only_with_sentinel() -> None:
    assert load_settings({}).replica_acks() == ReplicaAcks(0, 1000)
    sentinel = {"MPC_REDIS_URL": "redis+sentinel://s1:26379/mymaster/0"}
    assert load_settings(sentinel).replica_acks() == ReplicaAcks(1, 1000)
    assert load_settings({**sentinel, "MPC_REDIS_ACK_REPLICAS": "0"}).replica_acks().replicas == 0
    chosen = {"MPC_REDIS_ACK_REPLICAS": "2", "MPC_REDIS_ACK_TIMEOUT_MS": "250"}
    assert load_settings(chosen).replica_acks() == ReplicaAcks(2, 250)
