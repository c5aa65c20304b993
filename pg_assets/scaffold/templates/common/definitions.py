"""This project's Dagster definitions: the loads of ./pipelines.yaml, then the dbt models of ./dbt_project/.

`dagster dev` and `dg dev` load this module (see pyproject.toml), in this folder. To add
assets of your own, merge them in: `defs = dg.Definitions.merge(defs(), dg.Definitions(assets=[...]))`.
"""

from pg_assets.definitions import defs

__all__ = ["defs"]
