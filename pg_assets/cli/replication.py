"""`pg-assets replication status|drop SOURCE`: a `kind: pg_replication` source's slot and lag.

`status` prints the slot, the position committed at the destination and the lag in
bytes and seconds (`--json` for machines); `drop` removes the slot and the publication
after asking (`--yes` to skip the question). The replica and its state stay; the next
run loads a new snapshot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pg_assets.cli.state import confirm

if TYPE_CHECKING:
    from pg_assets.sources.pg_replication.status import ReplicationStatus


def cmd_replication(args: argparse.Namespace) -> int:
    """Entry point of `pg-assets replication`."""
    from pg_assets.runner import pipeline_for
    from pg_assets.sources.pg_replication import status as replication
    from pg_assets.spec import load_spec

    spec = load_spec(Path(args.file))
    if args.action == "status":
        found = replication.status(spec, args.source, pipeline_for(spec, args.source))
        print(json.dumps(found.as_dict(), indent=2) if args.json else _status_text(found))
        return 0
    source = replication.replication_source(spec, args.source)
    question = (f"Drop slot `{source.slot}` and publication `{source.publication}` of source `{args.source}`? "
                "The next run then loads every table again from a snapshot. [y/N] ")
    if not args.yes and not confirm(question, "pg-assets replication drop", "drop"):
        print("Nothing was dropped.")
        return 1
    dropped = replication.drop(spec, args.source)
    print(f"Dropped {' and '.join(dropped)}." if dropped else "Nothing to drop: no slot, no publication.")
    return 0


def _status_text(s: ReplicationStatus) -> str:
    slot = (f"slot `{s.slot}`: " + ("missing" if not s.slot_exists else
            f"{'active (pid ' + str(s.slot_active_pid) + ')' if s.slot_active_pid else 'idle'}, confirmed "
            f"{s.slot_confirmed}, holding {s.retained_wal_bytes} bytes of WAL"))
    seconds = "unknown" if s.lag_seconds is None else f"{s.lag_seconds:.1f} s"
    return "\n".join([f"source `{s.source}`", slot, f"publication `{s.publication}`",
                      f"committed position: {s.committed or 'none (no snapshot yet)'}",
                      f"lag: {s.lag_bytes if s.lag_bytes is not None else 'unknown'} bytes, {seconds}"])
