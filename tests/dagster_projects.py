"""Shared helpers for the Dagster tests: small pipelines.yaml projects in a temp folder.

Each project gets its own source module (a unique name, so modules of different
tests never shadow each other in `sys.modules`) next to its `pipelines.yaml`; the
python source kind imports it with the spec's folder on `sys.path`, in this process
and in the subprocesses the multiprocess executor and `dagster dev` start.
"""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

SOURCE_MODULE = '''
def rows(rows):
    """The rows the YAML gives, as they are."""
    return rows


def day_rows(day, end):
    """One row per partition, saying which window it was loaded for."""
    return [{"id": day, "day": day, "day_end": end}]


def region_rows(region):
    return [{"id": f"{region}-{n}", "region": region} for n in (1, 2)]


def nested():
    return [{"id": 1, "items": [{"sku": "a"}, {"sku": "b"}]}, {"id": 2, "items": [{"sku": "c"}]}]


def boom():
    raise RuntimeError("the source exploded")
    yield  # a generator: it fails while the load runs
'''

SHOP = """
sources:
  shop:
    kind: python
    dataset: {dataset}
    description: The web shop.
    owners: [team:data]
    resources:
      customers:
        function: {module}:rows
        args:
          rows: [{{id: 1, email: a@x.io}}, {{id: 2, email: b@x.io}}]
        description: People who bought something.
        write_disposition: merge
        primary_key: id
        columns:
          email: {{data_type: text, unique: true, nullable: false}}
        tags: {{tier: gold}}
      order_lines:
        function: {module}:nested
        group: sales
        schedule: "0 6 * * *"
        automation: eager
        freshness: {{max_lag_minutes: 60}}
  events:
    kind: python
    dataset: {dataset}_events
    checks: false
    partitions: {{type: daily, start: "2024-01-01"}}
    resources:
      page_views:
        function: {module}:day_rows
        args: {{day: "${{partition_start}}", end: "${{partition_end}}"}}
        write_disposition: merge
        primary_key: id
"""


def write_project(folder: Path, spec: str, dataset: str = "raw_shop") -> Path:
    """Write `pipelines.yaml` (with `{module}` and `{dataset}` filled in) and its source module."""
    module = f"pgdg_src_{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(SOURCE_MODULE)
    path = folder / "pipelines.yaml"
    path.write_text(textwrap.dedent(spec).format(module=module, dataset=dataset))
    return path
