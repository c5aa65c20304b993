"""`pg-assets discover`, the errors of database sources (before anything is written, never a
password), and the Dagster assets of a `sql_database` source."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from pg_assets import cli, runner
from pg_assets.dagster import PgAssetsResource, build_definitions
from pg_assets.errors import ConfigError, CredentialsError
from pg_assets.spec import load_spec
from sql_sources import MARIADB_PASSWORD, SourceDb
from test_sql_database import spec_for, unique

Query = Callable[..., list[tuple]]

DISCOVERED = {
    "postgresql": "CREATE TABLE {t} (id integer PRIMARY KEY, name varchar(20), \"Updated_At\" timestamptz)",
    "mysql": "CREATE TABLE {t} (id integer PRIMARY KEY, name varchar(20), Updated_At datetime)",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(20), Updated_At DATETIME)",
}


def test_discover_lists_tables_and_writes_the_resources_block(source_db: SourceDb, dataset: str, query: Query,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    table = unique("Disc")
    quote = '"' if source_db.dialect != "mysql" else "`"
    quoted = f"{quote}{table}{quote}"
    source_db.execute(DISCOVERED[source_db.dialect].format(t=quoted),
                      f"INSERT INTO {quoted} (id, name, {quote}Updated_At{quote}) VALUES (1, 'a', '2024-05-01 10:00:00')")
    monkeypatch.setenv("SRC_URL", source_db.url)
    path = tmp_path / "pipelines.yaml"
    path.write_text(textwrap.dedent(f"""\
        # the team's sources
        sources:
          src:
            kind: sql_database
            dataset: {dataset}   # where it lands
            credentials: ${{SRC_URL}}
            resources:
              airlines: {{write_disposition: replace}}  # kept as written
        """))
    assert cli.main(["discover", "-f", str(path), "src", "--tables", "disc_*,airlines,planes", "--write"]) == 0
    out = capsys.readouterr().out
    assert f"# {table}  (primary key: id; suggested cursor: Updated_At)" in out
    assert "# planes  (primary key: tailnum; suggested cursor: none)" in out
    assert "flights" not in out and MARIADB_PASSWORD not in out
    assert f"  {table.lower()}:\n    table: {table}\n    write_disposition: merge\n" \
           "    incremental: {cursor_path: Updated_At}\n" in out

    written = path.read_text()
    assert written.startswith("# the team's sources\n") and "# where it lands" in written
    assert "credentials: ${SRC_URL}\n" in written and "airlines: {write_disposition: replace}  # kept" in written
    assert written.index("airlines:") < min(written.index("planes:"), written.index(f"{table.lower()}:"))
    assert written.count("airlines:") == 1
    info = runner.run_source(load_spec(path), "src", [table.lower()])
    assert info.row_counts == {table.lower(): 1}
    assert query(f'SELECT id, name FROM "{dataset}"."{table.lower()}"') == [(1, "a")]


def test_discover_names_a_source_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text("sources:\n  f:\n    kind: files\n    dataset: d\n    resources: {a: {path: a.csv}}\n")
    path.write_text(path.read_text() + "  db:\n    kind: sql_database\n    credentials: ${UNSET_SOURCE_URL}\n")
    assert cli.main(["discover", "-f", str(path), "g"]) == 2
    assert cli.main(["discover", "-f", str(path), "f"]) == 2
    assert cli.main(["discover", "-f", str(path), "db"]) == 2
    err = capsys.readouterr().err
    assert "sources.db.credentials: environment variable `UNSET_SOURCE_URL` is not set" in err
    assert "no source `g` in pipelines.yaml" in err and "source `f` is `kind: files`" in err


def _schemas(query: Query, dataset: str) -> list[tuple]:
    return query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (f"{dataset}%",))


def test_a_wrong_password_names_the_source_and_never_shows_it(mariadb_source: SourceDb, dataset: str,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              query: Query) -> None:
    url = sa.engine.make_url(mariadb_source.url).set(password="Wr0ng-Secret!")
    wrong = SourceDb("mysql", url.render_as_string(hide_password=False), mariadb_source.engine)
    spec = spec_for(tmp_path, monkeypatch, wrong, dataset, "airlines: {}\n")
    with pytest.raises(CredentialsError) as caught:
        runner.run_source(spec, "src")
    message = str(caught.value)
    assert message.startswith("source `src`, resource `airlines`: cannot connect to mysql://127.0.0.1:")
    assert "Access denied for user 'loader'" in message
    assert "Wr0ng" not in message and MARIADB_PASSWORD not in message
    assert _schemas(query, dataset) == []


def test_missing_table_bad_query_and_unmapped_type_fail_before_anything_is_written(
        postgres_source: SourceDb, dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        query: Query) -> None:
    table = unique("spans")
    postgres_source.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, took interval)",
                            f"INSERT INTO {table} VALUES (1, interval '1 day 2 hours')")
    cases = {
        "airlnes: {}\n": "Did you mean `airlines`? Set `table` to the source table, or `schema`.",
        "q: {query: 'select nope from airlines'}\n": "source `src`, resource `q`: the query fails: column "
                                                     "\"nope\" does not exist",
        f"s: {{table: {table}}}\n": f"source `src`, resource `s`: column `took` of `{table}` has the type "
                                   "`INTERVAL`, which pg_assets cannot map; add the hint "
                                   "`columns: {took: {data_type: text}}`",
        "a: {table: airlines, incremental: {cursor_path: updated}}\n":
            "`incremental.cursor_path: updated` is not one of the columns of `airlines`",
    }
    for resource, expected in cases.items():
        spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset, "airports: {}\n" + resource)
        with pytest.raises(ConfigError) as caught:
            runner.run_source(spec, "src")
        assert expected in str(caught.value) and str(caught.value).startswith("source `src`, resource `")
        assert _schemas(query, dataset) == []  # airports, declared first, was not loaded either

    fixed = spec_for(tmp_path, monkeypatch, postgres_source, dataset,
                     f"s: {{table: {table}, columns: {{took: {{data_type: text}}}}}}\n")
    runner.run_source(fixed, "src")
    assert query(f'SELECT id, took FROM "{dataset}".s') == [(1, "1 day, 2:00:00")]


def test_assets_carry_the_source_uri_without_secrets_and_materialize(
        mariadb_source: SourceDb, sqlite_source: SourceDb, dataset: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, query: Query) -> None:
    monkeypatch.setenv("MARIA_URL", mariadb_source.url)
    monkeypatch.setenv("LITE_URL", sqlite_source.url)
    path = tmp_path / "pipelines.yaml"
    path.write_text(textwrap.dedent(f"""\
        sources:
          maria:
            kind: sql_database
            credentials: ${{MARIA_URL}}
            dataset: {dataset}
            resources:
              airlines: {{}}
              gold: {{query: "select * from planes where seats > 300", table_name: big_planes}}
          lite:
            kind: sql_database
            credentials: ${{LITE_URL}}
            dataset: {dataset}_lite
            resources:
              carriers: {{table: airlines}}
        """))
    defs = build_definitions(load_spec(path))
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    port = mariadb_source.engine.url.port
    uris = {key.to_user_string(): spec.metadata.get("dagster/uri") for key, spec in specs.items()}
    assert uris == {f"{dataset}/airlines": f"mysql://127.0.0.1:{port}/src/src.airlines",
                    f"{dataset}/big_planes": f"mysql://127.0.0.1:{port}/src",
                    f"{dataset}_lite/carriers": f"sqlite:///{sqlite_source.engine.url.database}/airlines"}
    assert uris[f"{dataset}_lite/carriers"].startswith("sqlite:////")  # an absolute path, as SQLAlchemy writes it
    every_metadata = repr([(s.metadata, s.code_version, s.tags, s.description) for s in specs.values()])
    assert MARIADB_PASSWORD not in every_metadata and "loader" not in every_metadata

    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, instance=instance, resources={"pg_assets": PgAssetsResource()},
                                selection=[dg.AssetKey([dataset, "airlines"]), dg.AssetKey([dataset, "big_planes"])])
    assert result.success
    events = [e for e in result.get_asset_materialization_events()]
    assert MARIADB_PASSWORD not in repr([e.materialization.metadata for e in events])
    seats = mariadb_source.rows("SELECT count(*) FROM planes WHERE seats > 300")[0][0]
    assert query(f'SELECT count(*) FROM "{dataset}".big_planes') == [(seats,)]
    query(f'DROP SCHEMA IF EXISTS "{dataset}_lite" CASCADE')


@pytest.mark.parametrize("path", ["copy", "rows"])
def test_a_source_failing_mid_stream_leaves_nothing(postgres_source: SourceDb, dataset: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, query: Query, path: str) -> None:
    import threading

    from pg_assets.errors import TerminalLoadError

    view = unique("breaks")
    postgres_source.execute(f"CREATE VIEW {view} AS SELECT i AS id, repeat('x', 30) AS pad, 1 / (i - 120000) AS x "
                            "FROM generate_series(1, 150000) AS i")
    options = "" if path == "copy" else ", schema_contract: evolve"  # any contract takes the row path
    spec = spec_for(tmp_path, monkeypatch, postgres_source, dataset,
                    f"airlines: {{}}\nbroken: {{table: {view}{options}}}\n")
    threads = threading.active_count()
    with pytest.raises(TerminalLoadError, match="source `src`, resource `broken`: reading failed: division by zero"):
        runner.run_source(spec, "src")
    assert (dataset,) not in _schemas(query, dataset)  # airlines, staged first, is not visible either
    assert query("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (f"{dataset}_staging",)) == [(0,)]
    assert threading.active_count() <= threads
