"""How far a replica is behind its source, and removing a source's slot and publication.

The lag is measured from the position committed at the destination (the truth of what
was applied), not from the slot's `confirmed_flush_lsn`, which the server may keep
behind it:

- `lag_bytes`: WAL the source wrote since the committed position (`pg_wal_lsn_diff`);
  this counts every database of the server, so an idle replica of a busy server lags;
- `lag_seconds`: time since the replica was last known to hold every change: the
  source's clock at the start of the last run that caught up (`as_of` in the state).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pg_assets import sql
from pg_assets.errors import ConfigError
from pg_assets.sources.pg_replication import catalog
from pg_assets.sources.pg_replication.run import lag_metadata, stored_position
from pg_assets.sources.pg_replication.spec import PgReplicationSource

if TYPE_CHECKING:
    import pg_assets
    from pg_assets.spec.document import PipelinesSpec

_RETAINED = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots " \
            "WHERE slot_name = %s"


@dataclass(frozen=True)
class ReplicationStatus:
    """The state of one `pg_replication` source (see the module docstring for the lags)."""

    source: str
    slot: str
    publication: str
    slot_exists: bool
    slot_active_pid: int | None
    slot_confirmed: str | None
    retained_wal_bytes: int | None
    committed: str | None
    lag_bytes: int | None
    lag_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replication_source(spec: PipelinesSpec, source_name: str) -> PgReplicationSource:
    source = spec.sources.get(source_name)
    if not isinstance(source, PgReplicationSource):
        names = ", ".join(f"`{n}`" for n, s in spec.sources.items() if isinstance(s, PgReplicationSource))
        raise ConfigError(f"`{source_name}` is not a `kind: pg_replication` source of {spec.path.name}; "
                          f"those are: {names or 'none'}")
    return source


def status(spec: PipelinesSpec, source_name: str, pipeline: pg_assets.Pipeline) -> ReplicationStatus:
    """The slot, the committed position and the lags of source `source_name`."""
    source = replication_source(spec, source_name)
    saved = stored_position(pipeline, source_name) or {}
    src = catalog.SourceSession(source, source_name, catalog.source_config(source, spec.base_dir))
    try:
        slot = src.slot()
        retained = src.query(_RETAINED, (source.slot,))[0][0] if slot else None
        lag = lag_metadata(src, saved)
    finally:
        src.close()
    return ReplicationStatus(source_name, source.slot, source.publication, slot is not None,
                             slot.active_pid if slot else None, slot.confirmed_flush if slot else None, retained,
                             saved.get("lsn"), lag.get("replication_lag_bytes"), lag.get("replication_lag_seconds"))


def drop(spec: PipelinesSpec, source_name: str) -> list[str]:
    """Drop the source's slot and publication (under the source's lock); returns what was dropped.

    The replica's tables and state stay: the next run, finding no slot, loads a new snapshot.
    """
    source = replication_source(spec, source_name)
    dropped = []
    with catalog.session(source, source_name, spec.base_dir, lock_timeout=60.0) as src:
        slot = src.slot()
        if slot is not None:
            if slot.active_pid:
                raise ConfigError(f"slot `{source.slot}` is in use by process {slot.active_pid} (a run, or another "
                                  "consumer); stop it first")
            src.drop_slot()
            dropped.append(f"slot `{source.slot}`")
        if src.query("SELECT 1 FROM pg_publication WHERE pubname = %s", (source.publication,)):
            src.query(f"DROP PUBLICATION {sql.ident(source.publication)}")
            dropped.append(f"publication `{source.publication}`")
    return dropped
