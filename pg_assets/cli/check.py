"""`pg-assets check [SOURCE[.RESOURCE] ...]`: can the destination take the spec's loads? Nothing is loaded.

Per source it makes the checks a load makes before it stages a row (`Pipeline.check`):
the server is not a hot standby, sessions are not read-only, no pooler runs in
transaction pooling, and the role holds every privilege the source's resources need, or
the GRANT lines that give them are printed. Exit 0 when every source passes, 2 when a
setting is at fault (privileges, credentials, the server's mode), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from pg_assets.errors import ConfigError, PgAssetsError
from pg_assets.masking import mask_secrets


def cmd_check(args: argparse.Namespace) -> int:
    """Check each targeted source in turn; a failing one does not stop the others."""
    from pg_assets import runner
    from pg_assets.spec.document import load_spec

    spec = load_spec(args.file)
    failed: dict[str, PgAssetsError] = {}
    targets = runner.parse_targets(spec, getattr(args, "targets", None))
    for source_name, names in targets.items():
        dataset = spec.sources[source_name].dataset
        try:
            facts = runner.check_source(spec, source_name, names)
        except PgAssetsError as exc:
            print(mask_secrets(f"{source_name} -> {dataset}: cannot load: {exc}"), file=sys.stderr)
            failed[source_name] = exc
            continue
        print(f"{source_name} -> {dataset}: ok (role `{facts.role}` on database `{facts.database}`, "
              f"statement_timeout {facts.statement_timeout})")
    print(f"{len(targets) - len(failed)} of {len(targets)} sources can load" +
          (f"; not: {', '.join(failed)}" if failed else ""))
    if not failed:
        return 0
    return 2 if all(isinstance(exc, ConfigError) for exc in failed.values()) else 1
