"""Items encoded a block at a time (`normalize.shapes`) give exactly the rows the general path gives."""

from __future__ import annotations

import decimal
import itertools
from typing import Any

import pytest

import pg_assets
from pg_assets.errors import BadDataError
from pg_assets.normalize.encode import FORMATS
from pg_assets.normalize.rows import Batch, Normalizer
from pg_assets.table_plan import TablePlan

PLAN = TablePlan(root="t", write_disposition="append", strategy=None, hints={}, max_nesting=1000, contract={},
                 row_key=None, root_id_in_children=False, resource="t")


def mixed_items(n: int = 1300) -> list[dict[str, Any]]:
    """Flat items of one key order, with the values that leave the block path sprinkled in."""
    items: list[dict[str, Any]] = [{"a": i, "b": f"s{i}\t\\", "c": i / 3, "d": None if i < 5 else i % 2 == 0}
                                   for i in range(n)]
    items[600]["a"] = "not a number"  # a variant column, mid-block
    items[700]["c"] = {"x": 1, "y": [1, 2]}  # flattens: a new column and a child table
    items[800]["a"] = 2**70  # does not fit bigint
    items[900] = {"d": True, "a": 9, "b": "other order"}
    items[1000]["c"] = float("nan")
    items[1100]["e"] = None  # a key without a column, always None
    return items


def normalized(fmt: str, items: list[dict[str, Any]], general: bool) -> list[tuple[str, tuple[str, ...], bytes]]:
    out: list[Batch] = []
    n = Normalizer({}, {}, FORMATS[fmt], "1700000000.1", out.append, batch_bytes=4096)
    n._ids = (f"id{i:012d}" for i in itertools.count())
    for item in items:
        if general:
            n._seq += 1
            n._add_general(PLAN, item)
        else:
            n.add(PLAN, item)
    n.flush_all()
    return [(b.table, tuple(c.name for c in b.columns), b.payload) for b in out]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_blocks_write_the_general_paths_bytes(fmt: str) -> None:
    items = mixed_items()
    shaped = normalized(fmt, items, general=False)
    assert shaped == normalized(fmt, items, general=True)
    last_root = [columns for table, columns, _ in shaped if table == "t"][-1]
    assert {"a__v_text", "a__v_decimal", "c__x"} <= set(last_root)


@pytest.mark.parametrize("file_format", ["insert_values", "copy"])
def test_mixed_items_load_end_to_end(file_format: str, dataset: str, query) -> None:
    p = pg_assets.pipeline("shaped", dataset=dataset, file_format=file_format)
    info = p.run(mixed_items(), table_name="t")
    assert info.row_counts == {"t": 1300, "t__c__y": 2}
    got = dict(query(f"SELECT a, b FROM {dataset}.t WHERE a IN (0, 599, 1299)"))
    assert got == {0: "s0\t\\", 599: "s599\t\\", 1299: "s1299\t\\"}
    assert query(f"SELECT a__v_text, a__v_decimal FROM {dataset}.t WHERE a IS NULL ORDER BY a__v_text") == [
        ("not a number", None), (None, decimal.Decimal(2**70))]
    # item 900 has no `c`, item 1000's is NaN, stored as NULL
    assert query(f"SELECT a FROM {dataset}.t WHERE c IS NULL AND c__x IS NULL ORDER BY a") == [(9,), (1000,)]


@pytest.mark.parametrize("file_format", ["insert_values", "copy"])
def test_an_unstorable_string_mid_block_names_its_row(file_format: str, dataset: str, query) -> None:
    items = [{"a": i, "b": "ok"} for i in range(1000)]
    items[699]["b"] = "bad \ud800"
    p = pg_assets.pipeline("shaped", dataset=dataset, file_format=file_format)
    with pytest.raises(BadDataError, match=r"row 700 of table `t`, column `b`"):
        p.run(items, table_name="t")
    assert query("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = 't'",
                 (dataset,)) == [(0,)]  # nothing half-done
