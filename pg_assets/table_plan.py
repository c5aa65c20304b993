"""A resource's options, checked and normalised into the plan the normalizer and commit follow."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pg_assets.errors import ConfigError, did_you_mean
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.normalize.row_keys import content_hash, key_hash
from pg_assets.resource import Resource
from pg_assets.schema import HINT_KEYS
from pg_assets.vocabulary import (CONTRACT_ENTITIES, CONTRACT_MODES, DATA_TYPES, DEFAULT_MERGE_STRATEGY,
                                  MERGE_STRATEGIES, NEEDS_PRIMARY_KEY, REPLACE_STRATEGIES, ROOT_KEY_STRATEGIES,
                                  WRITE_DISPOSITIONS)

UNLIMITED_NESTING = 1000
VALID_FROM, VALID_TO = "_dlt_valid_from", "_dlt_valid_to"


@dataclass(frozen=True)
class TablePlan:
    """How the rows of one resource are shaped: from its options, fixed for the load."""

    root: str
    write_disposition: str
    strategy: str | None
    hints: Mapping[str, Mapping[str, Any]]
    max_nesting: int
    contract: Mapping[str, str]
    row_key: Callable[[Mapping[str, Any], Mapping[str, Any]], str] | None  # None: random keys
    root_id_in_children: bool  # the strategy puts `_dlt_root_id` in child rows (`schema.needs_root_ids`)
    resource: str
    primary_key: tuple[str, ...] = ()
    merge_key: tuple[str, ...] = ()
    scd2: "Scd2Options | None" = None
    add_dlt_load_id: bool = True  # columnar items: whether rows get `_dlt_load_id` (dict rows always do)
    add_dlt_id: bool = True  # columnar items: whether rows get a random `_dlt_id` (merge needs one)
    renames: Mapping[str, str] = field(default_factory=dict)  # top-level source key -> its column (`name` hints)
    cursor_column: str | None = None  # the incremental cursor's column, which dlt marks `incremental`
    strategy_given: bool = False  # `strategy` was named (dlt then stores it, even merge's default)

    @property
    def sequenced(self) -> bool:
        """Merge rows carry their item's sequence number in staging, so "last one wins" is exact."""
        return self.write_disposition == "merge"


@dataclass(frozen=True)
class Scd2Options:
    """How an scd2 table keeps history (dlt's option names)."""

    valid_from: str = "_dlt_valid_from"
    valid_to: str = "_dlt_valid_to"
    active_record_timestamp: str | None = None  # `_dlt_valid_to` of current rows; NULL by default
    boundary_timestamp: str | None = None  # the load's start time by default
    row_version_column: str | None = None  # a column that says a row changed; the content hash by default


def _unknown(kind: str, value: Any, allowed: Sequence[str], where: str) -> ConfigError:
    return ConfigError(f"{where}: unknown {kind} `{value}`; expected one of "
                       f"{', '.join(f'`{a}`' for a in allowed)}.{did_you_mean(value, allowed)}")


SCD2_OPTIONS = ("validity_column_names", "active_record_timestamp", "boundary_timestamp", "row_version_column_name")


def parse_disposition(value: str | Mapping[str, Any], replace_strategy: str, where: str) -> tuple[str, str | None]:
    """`"merge"` or `{"disposition": "merge", "strategy": "upsert"}` -> (disposition, strategy)."""
    if isinstance(value, Mapping):
        extra = set(value) - {"disposition", "strategy", *SCD2_OPTIONS}
        if extra:
            raise _unknown("write_disposition key", sorted(extra)[0], ("disposition", "strategy", *SCD2_OPTIONS),
                           where)
        if value.get("strategy") != "scd2" and set(value) & set(SCD2_OPTIONS):
            raise ConfigError(f"{where}: `{sorted(set(value) & set(SCD2_OPTIONS))[0]}` applies only to "
                              "`strategy: scd2`")
        disposition, strategy = value.get("disposition", "append"), value.get("strategy")
    else:
        disposition, strategy = value, None
    if disposition not in WRITE_DISPOSITIONS:
        raise _unknown("write disposition", disposition, WRITE_DISPOSITIONS, where)
    if disposition == "replace":
        strategy = strategy or replace_strategy
        if strategy not in REPLACE_STRATEGIES:
            raise _unknown("replace strategy", strategy, REPLACE_STRATEGIES, where)
    elif disposition == "merge":
        strategy = strategy or DEFAULT_MERGE_STRATEGY
        if strategy not in MERGE_STRATEGIES:
            raise _unknown("merge strategy", strategy, MERGE_STRATEGIES, where)
    elif strategy is not None:
        raise ConfigError(f"{where}: `append` takes no strategy (got `{strategy}`)")
    return disposition, strategy


def _keys(value: str | Sequence[str] | None, renames: Mapping[str, str]) -> tuple[str, ...]:
    """Key columns by their column names: a key the source spells as a renamed one takes the new name."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else list(value)
    return tuple(renames.get(n) or normalize_identifier(n) for n in names)


RENAME_HINT = "name"  # `columns: {"Foo Bar": {name: foo_bar_2}}`: the key's column is called this instead


def _hints(columns: Mapping[str, Mapping[str, Any]] | None, where: str
           ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The hints by column name, and the renames: source key -> the column it becomes.

    A hint's key is the source's own spelling; with `name` its column is that name
    (normalised) instead, so keys that would collide once normalised can be told apart.
    """
    out: dict[str, dict[str, Any]] = {}
    renames: dict[str, str] = {}
    hinted: dict[str, str] = {}  # column -> the key whose hint names it, for the message
    for raw, hint in (columns or {}).items():
        for key in hint:
            if key not in HINT_KEYS and key != RENAME_HINT:
                raise _unknown("column hint", key, (*HINT_KEYS, RENAME_HINT), f"{where}, column `{raw}`")
        if hint.get("data_type") is not None and hint["data_type"] not in DATA_TYPES:
            raise _unknown("data_type", hint["data_type"], sorted(DATA_TYPES), f"{where}, column `{raw}`")
        name = _renamed(raw, hint.get(RENAME_HINT), where)
        if name in hinted:
            raise ConfigError(f"{where}: the column hints `{hinted[name]}` and `{raw}` both name column "
                              f"`{name}`; give one of them another `name`")
        hinted[name] = raw
        if name != normalize_identifier(raw):
            renames[raw] = name
        out[name] = {k: v for k, v in hint.items() if k != RENAME_HINT}
    return out, renames


def _renamed(raw: str, name: Any, where: str) -> str:
    """The column a hinted key becomes: its own normal form, or the normal form of its `name` hint."""
    if name is None:
        return normalize_identifier(raw)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}, column `{raw}`: `name` must be a non-empty column name (got {name!r})")
    return normalize_identifier(name)


def parse_contract(value: str | Mapping[str, str] | None, where: str) -> dict[str, str]:
    """`"freeze"` or `{"columns": "freeze"}` -> the mode of each entity it names."""
    if value is None:
        return {}
    modes = {e: value for e in CONTRACT_ENTITIES} if isinstance(value, str) else dict(value)
    for entity, mode in modes.items():
        if entity not in CONTRACT_ENTITIES:
            raise _unknown("schema_contract entity", entity, CONTRACT_ENTITIES, where)
        if mode not in CONTRACT_MODES:
            raise _unknown("schema_contract mode", mode, CONTRACT_MODES, where)
    return modes


def plan_resource(res: Resource, replace_strategy: str, default_contract: str | Mapping[str, str] | None = None,
                  override_contract: str | Mapping[str, str] | None = None) -> TablePlan:
    """Check a resource's options and turn them into its `TablePlan`.

    The schema contract is decided per entity: `override_contract` (what `run()` was
    given along with resource objects) wins over the resource's own, which wins over
    `default_contract` (the pipeline's).
    """
    where = f"resource `{res.name}`"
    disposition, strategy = parse_disposition(res.write_disposition, replace_strategy, where)
    hints, renames = _hints(res.columns, where)
    pk, mk = _keys(res.primary_key, renames), _keys(res.merge_key, renames)
    pk = pk or tuple(n for n, h in hints.items() if h.get("primary_key"))
    mk = mk or tuple(n for n, h in hints.items() if h.get("merge_key"))
    for name in pk:
        hints.setdefault(name, {})["primary_key"] = True
    for name in mk:
        hints.setdefault(name, {})["merge_key"] = True
    if strategy in NEEDS_PRIMARY_KEY and not pk:
        raise ConfigError(f"{where}: merge strategy `{strategy}` needs a `primary_key`")
    if disposition == "merge" and not res.add_dlt_id:
        raise ConfigError(f"{where}: merge needs `_dlt_id` on every row; remove `add_dlt_id: false`")
    scd2 = _scd2_options(res.write_disposition, where) if strategy == "scd2" else None
    row_key = _row_key(strategy, pk, scd2)
    if scd2 is not None:  # validity columns come first, as dlt creates them
        hints = {scd2.valid_from: {"data_type": "timestamp"}, scd2.valid_to: {"data_type": "timestamp"}, **hints}
    nesting = UNLIMITED_NESTING if res.max_table_nesting is None else int(res.max_table_nesting)
    return TablePlan(root=normalize_identifier(res.name), write_disposition=disposition, strategy=strategy,
                     hints=hints, max_nesting=nesting, contract={**parse_contract(default_contract, "pipeline"),
                                                               **parse_contract(res.schema_contract, where),
                                                               **parse_contract(override_contract, "run()")},
                     row_key=row_key, root_id_in_children=disposition == "merge" and strategy in ROOT_KEY_STRATEGIES,
                     resource=res.name, primary_key=pk, merge_key=mk, scd2=scd2, add_dlt_load_id=res.add_dlt_load_id,
                     add_dlt_id=res.add_dlt_id, renames=renames, cursor_column=_cursor_column(res, renames),
                     strategy_given=disposition == "merge" and _strategy_named(res.write_disposition))


def _strategy_named(value: str | Mapping[str, Any]) -> bool:
    """Whether a `write_disposition` names its strategy (`{disposition: merge, strategy: ...}`)."""
    return isinstance(value, Mapping) and value.get("strategy") is not None


def _cursor_column(res: Resource, renames: Mapping[str, str]) -> str | None:
    """The column of a cursor that is a top-level key (a JSON path into nested values has none)."""
    path = res.incremental.cursor_path if res.incremental is not None else None
    if not path or any(c in path for c in ".[]$*"):
        return None
    return renames.get(path) or normalize_identifier(path)


def _row_key(strategy: str | None, pk: tuple[str, ...], scd2: Scd2Options | None
             ) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str] | None:
    """How root rows get their `_dlt_id`, as dlt decides it: the primary key's hash for upsert and
    insert-only, the content hash for scd2 unless a `row_version_column_name` tells versions
    apart, else (None) random keys."""
    if strategy in NEEDS_PRIMARY_KEY:
        return key_hash(pk)
    if scd2 is not None and scd2.row_version_column is None:
        return content_hash
    return None


def _scd2_options(value: str | Mapping[str, Any], where: str) -> Scd2Options:
    options = value if isinstance(value, Mapping) else {}
    names = options.get("validity_column_names") or (VALID_FROM, VALID_TO)
    if len(names) != 2:
        raise ConfigError(f"{where}: `validity_column_names` takes two names, from and to (got {list(names)})")
    version = options.get("row_version_column_name")
    return Scd2Options(valid_from=normalize_identifier(names[0]), valid_to=normalize_identifier(names[1]),
                       active_record_timestamp=options.get("active_record_timestamp"),
                       boundary_timestamp=options.get("boundary_timestamp"),
                       row_version_column=normalize_identifier(version) if version else None)
