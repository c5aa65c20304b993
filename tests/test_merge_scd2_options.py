"""scd2 options as dlt names them: validity columns, active-record and boundary timestamps, a version column."""

from __future__ import annotations

import datetime as dt

import pytest

import pg_assets

UTC = dt.timezone.utc


def _scd2(**options):
    return {"disposition": "merge", "strategy": "scd2", **options}


def test_custom_validity_columns_active_and_boundary_timestamps(dataset: str, query) -> None:
    wd = _scd2(validity_column_names=["Valid From", "valid_until"], active_record_timestamp="9999-12-31T00:00:00Z")
    p = pg_assets.pipeline("scd2opts", dataset=dataset)
    p.run([{"nk": 1, "v": "a"}, {"nk": 2, "v": "b"}], table_name="dim", write_disposition=wd, merge_key="nk")
    boundary = "2030-01-01T00:00:00+00:00"
    p.run([{"nk": 1, "v": "a2"}], table_name="dim", write_disposition={**wd, "boundary_timestamp": boundary},
          merge_key="nk")
    cols = [r[0] for r in query("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                "AND table_name = 'dim' ORDER BY ordinal_position", (dataset,))]
    assert cols[:2] == ["valid_from", "valid_until"] and "_dlt_valid_to" not in cols
    far = dt.datetime(9999, 12, 31, tzinfo=UTC)
    at = dt.datetime(2030, 1, 1, tzinfo=UTC)
    rows = query(f'SELECT nk, v, valid_from = %s, valid_until FROM "{dataset}".dim ORDER BY nk, v', (at,))
    assert rows == [(1, "a", False, at), (1, "a2", True, far), (2, "b", False, far)]


def test_row_version_column_decides_what_changed(dataset: str, query) -> None:
    wd = _scd2(row_version_column_name="version")
    p = pg_assets.pipeline("scd2ver", dataset=dataset)
    p.run([{"nk": 1, "v": "a", "version": 1}], table_name="dim", write_disposition=wd)
    # same version, other content: not a change; a new version: retired and re-inserted
    p.run([{"nk": 1, "v": "ignored", "version": 1}], table_name="dim", write_disposition=wd)
    assert query(f'SELECT v, _dlt_valid_to IS NULL FROM "{dataset}".dim') == [("a", True)]
    p.run([{"nk": 1, "v": "b", "version": 2}], table_name="dim", write_disposition=wd)
    assert query(f'SELECT v, _dlt_valid_to IS NULL FROM "{dataset}".dim ORDER BY version') == [
        ("a", False), ("b", True)]


@pytest.mark.parametrize(
    ("wd", "message"),
    [(_scd2(validity_column_names=["only_one"]), "two names"),
     ({"disposition": "merge", "strategy": "upsert", "boundary_timestamp": "2024-01-01"}, "only to `strategy: scd2`"),
     ({"disposition": "merge", "stratgy": "scd2"}, "Did you mean `strategy`?")],
    ids=["one-validity-name", "option-without-scd2", "misspelt-key"],
)
def test_bad_scd2_options_are_config_errors(wd: dict, message: str, dataset: str) -> None:
    with pytest.raises(pg_assets.ConfigError, match=message):
        pg_assets.pipeline("bad", dataset=dataset).run([{"nk": 1}], table_name="dim", write_disposition=wd,
                                                       primary_key="nk")
