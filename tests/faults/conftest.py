"""Fixtures of the fault suite: a Debian PostgreSQL over TCP with scram passwords, and a proxy in front."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pg_server  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402


@pytest.fixture(scope="session")
def tcp_server() -> Iterator[pg_server.Server]:
    """Debian's postgres, run as an unprivileged user on 127.0.0.1; stopped and removed after the session."""
    srv = pg_server.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def proxy(tcp_server: pg_server.Server) -> Iterator[FaultProxy]:
    """A fresh proxy in front of the server, closed after the test."""
    p = FaultProxy(tcp_server.port)
    try:
        yield p
    finally:
        p.close()
