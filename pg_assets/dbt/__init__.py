"""dbt beside the loads, without Dagster: `sources.py` writes dbt's `sources.yml` from the spec,
`env.py` points dbt at the destination and finds its executable."""
