"""`data_type: wei`: a decimal wide enough for EVM amounts, `numeric(156,78)` as dlt creates it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from pg_assets import pipeline, runner
from pg_assets.spec import load_spec

Query = Callable[..., list[tuple]]
# 2**256 - 1 wei and a fraction with 30 digits: neither fits numeric(38,9)
AMOUNTS = [Decimal(2**256 - 1), Decimal("0.000000000000000000000000000001")]


def _column_type(query: Query, dataset: str, table: str) -> list[tuple]:
    return query("SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                 "WHERE table_schema = %s AND table_name = %s AND column_name = 'amount'", (dataset, table))


def test_pipeline_run_loads_a_wei_column(pg_credentials: Any, dataset: str, query: Query) -> None:
    p = pipeline("wei_run", dataset=dataset, credentials=pg_credentials)
    for _ in range(2):  # the second run reads the column back from the catalog as `wei`
        p.run([{"id": i, "amount": a} for i, a in enumerate(AMOUNTS)], table_name="transfers",
              columns={"amount": {"data_type": "wei"}})
    assert _column_type(query, dataset, "transfers") == [("numeric", 156, 78)]
    rows = query(f'SELECT amount FROM "{dataset}".transfers WHERE id = 0')
    assert {r[0] for r in rows} == {AMOUNTS[0]}
    assert query(f'SELECT amount FROM "{dataset}".transfers WHERE id = 1')[0][0] == AMOUNTS[1]


def test_pipelines_yaml_resource_loads_a_wei_column(tmp_path: Path, dataset: str, query: Query) -> None:
    (tmp_path / "chain.py").write_text(textwrap.dedent("""
        def transfers():
            return [{"id": 1, "amount": str(2**256 - 1)}, {"id": 2, "amount": 7}]
        """))
    (tmp_path / "pipelines.yaml").write_text(textwrap.dedent(f"""
        destination: {{file_format: copy}}
        sources:
          chain:
            kind: python
            dataset: {dataset}
            resources:
              transfers:
                function: chain:transfers
                columns: {{amount: {{data_type: wei}}}}
        """))
    info = runner.run_source(load_spec(tmp_path / "pipelines.yaml"), "chain")
    assert info.row_counts["transfers"] == 2
    assert _column_type(query, dataset, "transfers") == [("numeric", 156, 78)]
    assert query(f'SELECT id, amount FROM "{dataset}".transfers ORDER BY id') == [
        (1, Decimal(2**256 - 1)), (2, Decimal(7))]


def test_an_arrow_table_loads_into_a_wei_column(pg_credentials: Any, dataset: str, query: Query) -> None:
    table = pa.table({"id": [1, 2], "amount": pa.array([Decimal("12.5"), Decimal("1E-30")], pa.decimal128(38, 30))})
    pipeline("wei_arrow", dataset=dataset, credentials=pg_credentials).run(
        table, table_name="transfers", columns={"amount": {"data_type": "wei"}})
    assert _column_type(query, dataset, "transfers") == [("numeric", 156, 78)]
    assert query(f'SELECT amount FROM "{dataset}".transfers ORDER BY id') == [(Decimal("12.5"),), (Decimal("1E-30"),)]
