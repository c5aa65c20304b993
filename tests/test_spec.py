"""Validation of pipelines.yaml: every class of error, with the exact place it is reported.

Definition-time tests: no database, no network.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pg_assets.errors import SpecError
from pg_assets.spec import SpecIssue, load_spec, validate_file

HEADER = """\
sources:
  shop:
    kind: files
    dataset: raw_shop
    resources:
"""


def issues_of(tmp_path: Path, text: str) -> list[SpecIssue]:
    (tmp_path / "data.csv").write_text("id,name\n1,a\n")
    (tmp_path / "data.xml").write_text("<id>1</id>\n")
    path = tmp_path / "pipelines.yaml"
    path.write_text(textwrap.dedent(text))
    return validate_file(path)


def one_issue(tmp_path: Path, text: str) -> SpecIssue:
    found = issues_of(tmp_path, text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# (yaml, line, column, key path, part of the message)
CASES = {
    "unknown-key-did-you-mean": (HEADER + "      customers: {path: data.csv, write_dispositon: merge}\n",
                                 6, 35, "sources.shop.resources.customers.write_dispositon",
                                 "unknown key. Did you mean `write_disposition`?"),
    "unknown-top-level-key": ("destinaton: {}\n" + HEADER + "      c: {path: data.csv}\n",
                              1, 1, "destinaton", "Did you mean `destination`?"),
    "wrong-type": ("destination: {workers: many}\n" + HEADER + "      c: {path: data.csv}\n",
                   1, 24, "destination.workers", "expected an integer, got `many`"),
    "out-of-range": ("destination: {workers: 0}\n" + HEADER + "      c: {path: data.csv}\n",
                     1, 24, "destination.workers", "greater than or equal to 1"),
    "unknown-literal": ("destination: {file_format: coppy}\n" + HEADER + "      c: {path: data.csv}\n",
                        1, 28, "destination.file_format", "got `coppy`. Did you mean `copy`?"),
    "unknown-disposition": (HEADER + "      c: {path: data.csv, write_disposition: merj}\n",
                            6, 46, "sources.shop.resources.c.write_disposition", "Did you mean `merge`?"),
    "unknown-strategy": (HEADER + "      c: {path: data.csv, primary_key: id,\n"
                                  "          write_disposition: {disposition: merge, strategy: upsret}}\n",
                         7, 61, "sources.shop.resources.c.write_disposition.strategy",
                         "unknown merge strategy `upsret`; expected one of `delete-insert`, `upsert`"),
    "strategy-of-other-disposition": (HEADER + "      c: {path: data.csv, write_disposition: "
                                               "{disposition: replace, strategy: upsert}}\n",
                                      6, 79, "sources.shop.resources.c.write_disposition.strategy",
                                      "unknown replace strategy `upsert`"),
    "scd2-option-without-scd2": (HEADER + "      c: {path: data.csv, primary_key: id, write_disposition: "
                                          "{disposition: merge, validity_column_names: [a, b]}}\n",
                                 6, 63, "sources.shop.resources.c.write_disposition",
                                 "`validity_column_names` applies only to `strategy: scd2`"),
    "upsert-without-primary-key": (HEADER + "      c: {path: data.csv, write_disposition: "
                                            "{disposition: merge, strategy: upsert}}\n",
                                   6, 46, "sources.shop.resources.c.write_disposition",
                                   "strategy `upsert` needs a `primary_key`"),
    "problem-placed-in-defaults": (HEADER.replace("    resources:\n", "    defaults: {write_disposition: "
                                                  "{disposition: merge, strategy: upsert}}\n"
                                                  "    resources:\n") + "      c: {path: data.csv}\n",
                                   5, 35, "sources.shop.defaults.write_disposition", "`upsert` needs"),
    "unknown-column-hint": (HEADER + "      c: {path: data.csv, columns: {id: {uniqe: true}}}\n",
                            6, 42, "sources.shop.resources.c.columns.id.uniqe", "Did you mean `unique`?"),
    "unknown-kind": ("sources:\n  s:\n    kind: fils\n    dataset: d\n    resources: {c: {path: data.csv}}\n",
                     3, 11, "sources.s.kind", "unknown kind `fils`; expected one of `python`, `files`, `rest_api`, "
                                              "`sql_database`, `pg_replication`. "
                                              "Did you mean `files`?"),
    "missing-kind": ("sources:\n  s:\n    dataset: d\n    resources: {c: {path: data.csv}}\n",
                     2, 3, "sources.s.kind", "missing required key `kind`"),
    "missing-dataset": ("sources:\n  s:\n    kind: files\n    resources: {c: {path: data.csv}}\n",
                        2, 3, "sources.s.dataset", "missing required key `dataset`"),
    "same-table-after-normalising": (HEADER + "      Customers: {path: data.csv}\n      customers: {path: data.csv}\n",
                                     7, 7, "sources.shop.resources.customers",
                                     "table `raw_shop.customers` is also loaded by `shop.Customers`"),
    "no-resources": ("sources:\n  s: {kind: files, dataset: d, resources: {}}\n",
                     2, 43, "sources.s.resources", "at least 1 item"),
    "files-missing-path": (HEADER + "      c: {format: csv}\n", 6, 7, "sources.shop.resources.c", "missing `path`"),
    "files-no-such-file": (HEADER + "      c: {path: nope.csv}\n", 6, 17, "sources.shop.resources.c.path",
                           "no file at `nope.csv`"),
    "files-unknown-format": (HEADER + "      c: {path: data.xml}\n", 6, 17, "sources.shop.resources.c.path",
                             "cannot tell the format of `data.xml`"),
    "files-selector-on-csv": (HEADER + "      c: {path: data.csv, data_selector: items}\n", 6, 42,
                              "sources.shop.resources.c.data_selector", "applies to `format: json` only"),
    "files-unknown-encoding": (HEADER + "      c: {path: data.csv, encoding: utf-9}\n", 6, 37,
                               "sources.shop.resources.c.encoding", "unknown encoding `utf-9`"),
    "python-module-missing": ("sources:\n  e:\n    kind: python\n    dataset: e\n    resources:\n"
                              "      v: {function: no_such_module:f}\n", 6, 21, "sources.e.resources.v.function",
                              "cannot import module `no_such_module`"),
    "python-function-missing": ("sources:\n  e:\n    kind: python\n    dataset: e\n    resources:\n"
                                "      v: {function: examples.sources:page_viewz}\n", 6, 21,
                                "sources.e.resources.v.function", "has no `page_viewz`. Did you mean `page_views`?"),
    "python-bad-target": ("sources:\n  e:\n    kind: python\n    dataset: e\n    resources:\n"
                          "      v: {function: examples.sources.page_views}\n", 6, 21,
                          "sources.e.resources.v.function", "is not `module:function`"),
    "python-unknown-arg": ("sources:\n  e:\n    kind: python\n    dataset: e\n    resources:\n"
                           "      v: {function: examples.sources:page_views, args: {dayz: 1}}\n", 6, 63,
                           "sources.e.resources.v.args.dayz", "Did you mean `days`?"),
    "python-missing-function": ("sources:\n  e:\n    kind: python\n    dataset: e\n    resources:\n      v: {}\n",
                                6, 7, "sources.e.resources.v", "missing `function`"),
    "cron": (HEADER + "      c: {path: data.csv, schedule: '0 25 * * *'}\n", 6, 37,
             "sources.shop.resources.c.schedule", "invalid cron string: hour `25` is outside 0-23"),
    "automation-cron": (HEADER + "      c: {path: data.csv, automation: {on_cron: '* * *'}}\n", 6, 49,
                        "sources.shop.resources.c.automation.on_cron", "has 3"),
    "automation-unknown": (HEADER + "      c: {path: data.csv, automation: eagr}\n", 6, 39,
                           "sources.shop.resources.c.automation", "Did you mean `eager`?"),
    "partition-date": (HEADER + "      c: {path: data.csv, partitions: {type: daily, start: 2024-13-01}}\n", 6, 60,
                       "sources.shop.resources.c.partitions.start", "a date (YYYY-MM-DD), got `2024-13-01`"),
    "partition-type": (HEADER + "      c: {path: data.csv, partitions: {type: dayly, start: 2024-01-01}}\n", 6, 46,
                       "sources.shop.resources.c.partitions.type", "Did you mean `daily`?"),
    "partition-duplicate-keys": (HEADER + "      c: {path: data.csv, partitions: {type: static, keys: [a, a]}}\n",
                                 6, 39, "sources.shop.resources.c.partitions", "`a` is listed twice"),
    "partition-placeholder-unpartitioned": (HEADER + "      c: {path: 'data_${partition_key}.csv', format: csv}\n",
                                            6, 17, "sources.shop.resources.c.path",
                                            "`${partition_key}` is used but the resource has no `partitions`"),
    "partition-end-of-static": (HEADER + "      c: {path: 'x_${partition_end}.csv', partitions: "
                                         "{type: static, keys: [a]}}\n", 6, 17, "sources.shop.resources.c.path",
                                "not defined for static partitions"),
    "partition-merge-key-mode": (HEADER + "      c: {path: data.csv, partitions: "
                                          "{type: daily, start: 2024-01-01, mode: merge_key}}\n", 6, 78,
                                 "sources.shop.resources.c.partitions.mode", "needs the resource's `merge_key`"),
    "owner": (HEADER + "      c: {path: data.csv, owners: [data team]}\n", 6, 36,
              "sources.shop.resources.c.owners[0]", "neither an email address nor `team:<name>`"),
    "tag-value": (HEADER + "      c: {path: data.csv, tags: {tier: 'gold plated'}}\n", 6, 40,
                  "sources.shop.resources.c.tags.tier", "is not a tag value"),
    "group": (HEADER + "      c: {path: data.csv, group: my-group}\n", 6, 34,
              "sources.shop.resources.c.group", "is not a group name"),
    "deps": (HEADER + "      c: {path: data.csv, deps: ['a//b']}\n", 6, 34,
             "sources.shop.resources.c.deps[0]", "is not an asset key"),
    "freshness": (HEADER + "      c: {path: data.csv, freshness: {max_lag_minutes: 5, warn_lag_minutes: 10}}\n",
                  6, 38, "sources.shop.resources.c.freshness", "must be smaller than `max_lag_minutes`"),
    "incremental-without-cursor": (HEADER + "      c: {path: data.csv, incremental: {initial_value: 1}}\n", 6, 27,
                                   "sources.shop.resources.c.incremental.cursor_path", "missing required key"),
    "schema-contract": (HEADER + "      c: {path: data.csv, schema_contract: frozen}\n", 6, 44,
                        "sources.shop.resources.c.schema_contract", "Did you mean `freeze`?"),
    "same-table-twice": (HEADER + "      a: {path: data.csv}\n      b: {path: data.csv, table_name: a}\n", 7, 39,
                         "sources.shop.resources.b.table_name", "table `raw_shop.a` is also loaded by `shop.a`"),
    "duplicate-key": (HEADER + "      c: {path: data.csv}\n      c: {path: data.csv}\n", 7, 7,
                      "sources.shop.resources.c", "duplicate key `c`"),
    "yaml-syntax": (HEADER + "      c: {path: data.csv\n", 7, 1, "", "invalid YAML"),
    "not-a-mapping": ("- just\n- a list\n", 1, 1, "", "must be a mapping with a `sources:` key"),
    "rest-placeholder-without-param": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n"
                                       "    base_url: https://x.test/\n    resources:\n      r: {endpoint: 'u/{id}'}\n",
                                       7, 21, "sources.a.resources.r.endpoint", "`{id}` in the endpoint has no value"),
    "rest-resolve-unknown": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: https://x.test/\n"
                             "    resources:\n      users: {}\n      r: {endpoint: 'u/{id}', params: "
                             "{id: {type: resolve, resource: user, field: id}}}\n", 8, 70,
                             "sources.a.resources.r.params.id.resource", "Did you mean `users`?"),
    "rest-incremental-param-without-incremental": (
        "sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: https://x.test/\n"
        "    resources:\n      r: {params: {since: {type: incremental}}}\n", 7, 27,
        "sources.a.resources.r.params.since", "needs the resource's `incremental"),
    "rest-paginator-type": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: https://x.test/\n"
                            "    paginator: {type: json_links}\n    resources: {r: {}}\n", 6, 23,
                            "sources.a.paginator.type", "Did you mean `json_link`?"),
    "rest-paginator-missing-limit": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n"
                                     "    base_url: https://x.test/\n    resources: {r: {paginator: {type: offset}}}\n",
                                     6, 21, "sources.a.resources.r.paginator.limit", "missing required key `limit`"),
    "rest-auth-missing-token": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: https://x.test/\n"
                                "    auth: {type: bearer}\n    resources: {r: {}}\n", 6, 5, "sources.a.auth.token",
                                "missing required key `token`"),
    "rest-base-url": ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: ftp://x.test/\n"
                      "    resources: {r: {}}\n", 5, 15, "sources.a.base_url", "is not an http(s) URL"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_error_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          case: tuple[str, int, int, str, str]) -> None:
    # the `function:` cases name the repository's example module (`examples.sources`), importable
    # from the repository's folder whatever ran before
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    text, line, column, path, fragment = case
    issue = one_issue(tmp_path, text)
    assert (issue.line, issue.column, issue.path) == (line, column, path), str(issue)
    assert fragment in issue.message


def test_message_format_names_file_line_column_path_and_fix(tmp_path: Path) -> None:
    issue = one_issue(tmp_path, CASES["unknown-key-did-you-mean"][0])
    assert str(issue) == (f"{tmp_path / 'pipelines.yaml'}:6:35: sources.shop.resources.customers.write_dispositon: "
                          "unknown key. Did you mean `write_disposition`?")


def test_resolve_cycle_is_reported_on_each_resource_in_it(tmp_path: Path) -> None:
    text = ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: https://x.test/\n"
            "    resources:\n      p: {params: {x: {type: resolve, resource: q, field: id}}}\n"
            "      q: {params: {x: {type: resolve, resource: p, field: id}}}\n")
    found = issues_of(tmp_path, text)
    assert [(i.line, i.column, i.path) for i in found] == [
        (7, 19, "sources.a.resources.p.params"), (8, 19, "sources.a.resources.q.params")]
    assert all("form a cycle" in i.message for i in found)


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    text = ("destination: {workers: many}\n" + HEADER + "      a: {path: nope.csv}\n"
            "      b: {path: data.csv, write_dispositon: merge}\n"
            "      c: {path: data.csv, write_disposition: {disposition: merge, strategy: upsert}}\n")
    found = issues_of(tmp_path, text)
    assert [(i.line, i.path.rsplit(".", 1)[-1]) for i in found] == [
        (1, "workers"), (7, "path"), (8, "write_dispositon"), (9, "write_disposition")]


def test_load_spec_raises_with_every_issue(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text("destination: {workers: many}\nsources: {}\n")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert len(raised.value.issues) == 2
    assert "2 errors" in str(raised.value) and "destination.workers" in str(raised.value)


def test_unset_variable_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_ASSETS_TEST_URL", raising=False)
    text = ("sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: ${PG_ASSETS_TEST_URL}\n"
            "    resources: {r: {}}\n")
    issue = one_issue(tmp_path, text)
    assert (issue.line, issue.column, issue.path) == (5, 15, "sources.a.base_url")
    assert "environment variable `PG_ASSETS_TEST_URL` is not set" in issue.message


def test_values_from_the_environment_never_appear_in_messages(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_TEST_SECRET", "ftp://loader:hunter2@db.example.com")
    monkeypatch.setenv("PG_ASSETS_TEST_WORKERS", "hunter3")
    text = ("destination: {workers: '${PG_ASSETS_TEST_WORKERS}'}\n"
            "sources:\n  a:\n    kind: rest_api\n    dataset: a\n    base_url: ${PG_ASSETS_TEST_SECRET}\n"
            "    resources: {r: {}}\n")
    found = issues_of(tmp_path, text)
    assert [i.path for i in found] == ["destination.workers", "sources.a.base_url"]
    assert not any("hunter" in str(i) for i in found)


def test_interpolation_with_default_and_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_ASSETS_TEST_DATASET", "from_env")
    monkeypatch.delenv("PG_ASSETS_TEST_UNSET", raising=False)
    path = tmp_path / "pipelines.yaml"
    (tmp_path / "data.csv").write_text("id\n1\n")
    path.write_text("destination: {workers: '${PG_ASSETS_TEST_UNSET:-4}'}\nsources:\n  s:\n    kind: files\n"
                    "    dataset: ${PG_ASSETS_TEST_DATASET}\n"
                    "    resources: {c: {path: data.csv, description: 'costs $${price}'}}\n")
    spec = load_spec(path)
    assert spec.destination.workers == 4
    assert spec.sources["s"].dataset == "from_env"
    assert spec.sources["s"].resolved("c").description == "costs ${price}"


def test_empty_credentials_mean_the_embedded_server(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    (tmp_path / "data.csv").write_text("id\n1\n")
    path.write_text("destination: {credentials: '${PG_ASSETS_TEST_NOPE:-}'}\n" + HEADER + "      c: {path: data.csv}\n")
    assert load_spec(path).destination.credentials is None


def test_yaml_1_2_scalars_keep_country_codes_and_dates_as_text(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    (tmp_path / "data.csv").write_text("id\n1\n")
    path.write_text(HEADER + "      c: {path: data.csv, partitions: {type: static, keys: [SE, NO, 'on']},\n"
                             "          incremental: {cursor_path: at, initial_value: 2024-01-01}}\n")
    resource = load_spec(path).sources["shop"].resolved("c")
    assert resource.partitions.keys == ["SE", "NO", "on"]
    assert resource.incremental.initial_value == "2024-01-01"
