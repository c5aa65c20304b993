"""`kind: pg_replication`: change data capture from Postgres with `pgoutput`, exactly once.

The modules follow the data: `spec` (the YAML options), `catalog` (the source's lock,
publication, slot and tables), `pgoutput` (the protocol's messages), `stream` (one read
of the slot, positions and skipping), `spool` (change rows as COPY text files) and `run`
(the snapshot and the loads of changes, each committing its position with its rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pg_assets.sources.base import CheckContext, Problem, SourceContext, SourceKind
from pg_assets.sources.pg_replication.run import run
from pg_assets.sources.pg_replication.spec import PgReplicationResource, PgReplicationSource

__all__ = ["KIND", "PgReplicationResource", "PgReplicationSource"]


def read(source: Any, resource: Any, context: SourceContext) -> Iterable[Any]:
    """Never called: the kind's `run` reads the slot once for every table."""
    raise NotImplementedError("pg_replication sources load through `run`, all tables from one stream")


def check(source: PgReplicationSource, name: str, resource: PgReplicationResource,
          context: CheckContext) -> Iterable[Problem]:
    return ()


KIND = SourceKind(name="pg_replication", source_model=PgReplicationSource, read=read, check=check, run=run)
