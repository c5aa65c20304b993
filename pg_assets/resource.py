"""`resource()`: one table of a load and how to write it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pg_assets.errors import ConfigError
from pg_assets.incremental import Incremental

WriteDisposition = str | Mapping[str, Any]
Key = str | Sequence[str] | None


@dataclass(frozen=True)
class Resource:
    """Data for one table plus the options that say how to load it.

    `data` is an iterable of dicts, of lists of dicts (pages), of Arrow tables or
    record batches, or of pandas or polars DataFrames (any mix), or a callable
    returning one; it is read once, lazily, inside `Pipeline.run`. A single table or
    DataFrame may be given as `data` itself. `add_dlt_load_id` / `add_dlt_id` (dlt's
    switches) leave those columns out of columnar rows.
    """

    data: Iterable[Any] | Callable[[], Iterable[Any]]
    name: str
    write_disposition: WriteDisposition = "append"
    primary_key: Key = None
    merge_key: Key = None
    columns: Mapping[str, Mapping[str, Any]] | None = None
    max_table_nesting: int | None = None
    incremental: Incremental | None = None
    schema_contract: str | Mapping[str, str] | None = None
    source: str | None = None
    add_dlt_load_id: bool = True
    add_dlt_id: bool = True

    def iter_data(self) -> Iterable[Any]:
        """The items, calling `data` first when it is a factory."""
        data = self.data
        if callable(data) and not hasattr(data, "__iter__") and not is_columnar(data):
            data = data()
        return [data] if is_columnar(data) else data


_COLUMNAR_MODULES = ("pyarrow", "pandas", "polars")


def is_columnar(item: Any) -> bool:
    """Whether `item` is a table, record batch or DataFrame of a columnar library (none is imported)."""
    kind = type(item)
    return kind.__module__.split(".")[0] in _COLUMNAR_MODULES and hasattr(kind, "columns")  # a class look-up: no work


def resource(
    data: Iterable[Any] | Callable[[], Iterable[Any]],
    name: str | None = None,
    *,
    write_disposition: WriteDisposition = "append",
    primary_key: Key = None,
    merge_key: Key = None,
    columns: Mapping[str, Mapping[str, Any]] | None = None,
    max_table_nesting: int | None = None,
    incremental: Incremental | Mapping[str, Any] | None = None,
    schema_contract: str | Mapping[str, str] | None = None,
    source: str | None = None,
    add_dlt_load_id: bool = True,
    add_dlt_id: bool = True,
) -> Resource:
    """Declare one table of a load.

    Examples:
        >>> r = resource([{"id": 1}], name="players", write_disposition="replace")
        >>> r.name
        'players'
    """
    if name is None:
        name = getattr(data, "__name__", None)
    if not name or not isinstance(name, str) or not name.strip("\x00 "):
        raise ConfigError(f"resource() needs a `name=` (the table the data is loaded into), got {name!r}")
    return Resource(data=data, name=name, write_disposition=write_disposition, primary_key=primary_key,
                    merge_key=merge_key, columns=columns, max_table_nesting=max_table_nesting,
                    incremental=Incremental.coerce(incremental), schema_contract=schema_contract, source=source,
                    add_dlt_load_id=bool(add_dlt_load_id), add_dlt_id=bool(add_dlt_id))
