"""Fixtures of the server suite: one production-like Debian PostgreSQL per session (`cluster.py`),
PgBouncer and a hot standby in front of it when a test asks, all stopped and removed after."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import cluster as server_cluster  # noqa: E402


@pytest.fixture(scope="session")
def cluster() -> Iterator[server_cluster.Cluster]:
    """The server with TLS, pg_hba rules and the roles of `cluster.py`."""
    srv = server_cluster.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def bouncer_port(cluster: server_cluster.Cluster) -> int:
    """PgBouncer in front of the cluster (stopped with it): `rel_session` and `rel_tx` pools."""
    return server_cluster.start_bouncer(cluster)


@pytest.fixture(scope="session")
def standby_port(cluster: server_cluster.Cluster) -> int:
    """A hot standby of the cluster (stopped with it)."""
    return server_cluster.start_standby(cluster)
