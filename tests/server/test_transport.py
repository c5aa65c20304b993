"""TLS, pg_hba and PgBouncer on a real server: failures classified by what failed, poolers used or refused."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from pg_assets import CredentialsError, UnsuitableDestinationError, pipeline, resource
from pg_assets.connection import explain_connect_error, open_connection
from pg_assets.errors import ServerUnavailableError


def _load(config, name: str, rows: list[dict], **options) -> None:
    pipeline(f"p_{name}", dataset="tls", credentials=config, workers=2).run(resource(rows, name=name, **options))


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca", "require"])
def test_tls_loads_with_the_right_ca(cluster, sslmode: str) -> None:
    config = cluster.config("tlsonly", sslmode=sslmode, sslrootcert=str(cluster.ca))
    _load(config, f"tls_{sslmode.replace('-', '_')}", [{"id": 1, "kids": [1, 2]}])
    conn = open_connection(config, "pg_assets:test")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)
    conn.close()


CA_FAULTS = {
    "wrong_ca": (lambda c: str(c.wrong_ca), "the client rejected the server's certificate (`sslmode=verify-full`)"),
    "missing_ca_file": (lambda c: str(c.home / "no-such-ca.crt"), "the CA file it verifies it with does not exist"),
}


@pytest.mark.parametrize("fault", list(CA_FAULTS))
def test_a_certificate_the_client_rejects_is_named_and_never_retried(cluster, fault: str) -> None:
    rootcert, expected = CA_FAULTS[fault]
    config = cluster.config("tlsonly", sslmode="verify-full", sslrootcert=rootcert(cluster))
    started = time.monotonic()
    with pytest.raises(CredentialsError) as caught:
        _load(config, "never", [{"id": 1}])
    assert time.monotonic() - started < 2  # the retry budget is 7.75 s
    assert not isinstance(caught.value, ServerUnavailableError)
    message = str(caught.value)
    assert expected in message and "sslrootcert" in message and "refused the connection" not in message


def test_a_hostnossl_reject_rule_is_named_with_the_sslmode_to_use(cluster) -> None:
    with pytest.raises(CredentialsError) as caught:
        _load(cluster.config("tlsonly", sslmode="disable"), "never", [{"id": 1}])
    message = str(caught.value)
    assert "pg_hba.conf has a `reject` rule for user `tlsonly` to database `rel`" in message
    assert "`sslmode=disable`" in message and "`sslmode=require`" in message
    assert "does not exist" not in message


def test_a_pooler_that_refuses_options_is_named_with_its_setting() -> None:
    from pg_assets.load.errors import connect_failure

    said = 'connection to server at "127.0.0.1", port 6432 failed: FATAL:  unsupported startup parameter: options'
    why, transient = connect_failure(said, {"sslmode": "prefer"})
    assert not transient and "ignore_startup_parameters = options" in why


def test_session_pooling_loads_merges_and_keeps_state(cluster, bouncer_port: int) -> None:
    """Through PgBouncer in session pooling: the run lock, staging, merges and state all work, and the
    sessions are in UTC although PgBouncer drops the startup options (the server's zone is New York)."""
    config = cluster.config("owner", port=bouncer_port, database="rel_session")
    p = pipeline("p_bounced", dataset="own", credentials=config, workers=3)
    naive = dt.datetime(2024, 1, 1, 12, 0)
    for version in (1, 2):
        rows = [{"id": i, "v": version, "at": naive, "kids": [version, i]} for i in range(50)]
        p.run(resource(rows, name="bounced", write_disposition="merge", primary_key="id"))
    assert cluster.admin("SELECT count(*), min(v), min(at) FROM own.bounced") == [
        (50, 2, dt.datetime(2024, 1, 1, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))))]
    assert cluster.admin("SELECT count(*) FROM own.bounced__kids") == [(100,)]
    assert p.state() is not None


def test_transaction_pooling_is_refused_at_the_start_naming_the_mode(cluster, bouncer_port: int) -> None:
    config = cluster.config("owner", port=bouncer_port, database="rel_tx")
    with pytest.raises(UnsuitableDestinationError) as caught:
        pipeline("p_tx", dataset="own", credentials=config).run(resource([{"id": 1}], name="tx_never"))
    assert caught.value.reason == "transaction_pooling"
    assert "transaction (or statement) pooling" in str(caught.value)
    assert "pool_mode = session" in str(caught.value)
    assert cluster.admin("SELECT to_regclass('own.tx_never')") == [(None,)]


def test_explained_messages_never_show_the_password(cluster) -> None:
    config = cluster.config("tlsonly", sslmode="disable")
    message = explain_connect_error(config, f"FATAL: pg_hba.conf rejects connection, no encryption {config.password}")
    assert config.password not in message


def test_the_run_lock_holds_across_pooled_sessions(cluster, bouncer_port: int) -> None:
    """A run lock taken through the session pool is seen by a run through the same pool, which waits, names
    the holder and gives up; released, the run goes through."""
    from pg_assets import LockTimeoutError
    from pg_assets.state import lock_keys

    config = cluster.config("owner", port=bouncer_port, database="rel_session")
    holder = open_connection(config, "pg_assets:test-holder")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", lock_keys("own", "p_locked"))
        p = pipeline("p_locked", dataset="own", credentials=config, lock_timeout=0.5)
        with pytest.raises(LockTimeoutError, match="pg_assets:test-holder"):
            p.run(resource([{"id": 1}], name="locked"))
    finally:
        holder.close()
    p.run(resource([{"id": 1}], name="locked"))
    assert cluster.admin("SELECT count(*) FROM own.locked") == [(1,)]
