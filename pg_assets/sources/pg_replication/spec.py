"""The options of `kind: pg_replication`, validated once at the spec's boundary.

```yaml
app:
  kind: pg_replication
  credentials: {env: APP_DB_URL}      # a role with REPLICATION and SELECT on the tables
  dataset: app_replica
  slot: pg_assets_app                 # created when missing
  publication: pg_assets_app          # created for `tables` when missing, else used as it is
  tables: [public.orders, public.customers]    # or `schema: public`
```

Each table is one resource named after it (`public.orders` -> `orders`); `resources:` may
still give a table its asset options (`group`, `tags`, ...) under that name.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from pg_assets.errors import ConfigError
from pg_assets.normalize.naming import normalize_identifier
from pg_assets.spec.models import Name, ResourceSpec, SourceSpec, WriteDispositionSpec
from pg_assets.vocabulary import WriteDisposition

_SLOT = re.compile(r"^[a-z0-9_]{1,63}$")
SlotName = Annotated[str, Field(pattern=_SLOT.pattern)]
"""Postgres allows lower-case letters, digits and `_` in a slot name, at most 63 of them."""
PublicationName = Annotated[str, Field(min_length=1, max_length=63)]

# the columns every replicated table gets, named as dlt's pg_replication source names them
LSN_COLUMN = "lsn"
DELETED_COLUMN = "deleted_ts"


class PgReplicationResource(ResourceSpec):
    """A replicated table: only the asset options apply (the keys and types come from the source)."""

    write_disposition: WriteDisposition | WriteDispositionSpec = WriteDispositionSpec(disposition="merge",
                                                                                      strategy="upsert")
    """Always a merge (upsert) on the table's key; not to be set."""

    @model_validator(mode="after")
    def _asset_options_only(self) -> PgReplicationResource:
        fixed = ("write_disposition", "primary_key", "merge_key", "incremental", "max_table_nesting")
        given = [k for k in fixed if k in self.model_fields_set]
        if given:
            raise ValueError(f"`{given[0]}` does not apply to `kind: pg_replication`: each table is merged on its "
                             "primary key (or replica identity) as the source defines it")
        return self


class PgReplicationSource(SourceSpec):
    model_config = ConfigDict(populate_by_name=True)
    resource_model = PgReplicationResource

    kind: Literal["pg_replication"]
    credentials: str | dict[str, Any] = Field(repr=False)
    """The source database: a `postgresql://` URI (`${VAR}`), `{env: VAR}` naming the variable that holds one,
    or connection fields. The role needs REPLICATION and SELECT on the tables."""
    slot: SlotName
    """The logical replication slot (`pgoutput`); created on the first run."""
    publication: PublicationName
    """The publication the slot reads; created for `tables` (or `schema`) when missing, else used as it is."""
    tables: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    """Source tables as `schema.table` (`public` when the schema is left out)."""
    source_schema: str | None = Field(default=None, alias="schema", min_length=1)
    """Every table of this schema, instead of `tables`."""
    deletes: Literal["hard", "soft"] = "hard"
    """`hard`: a deleted row leaves the replica; `soft`: it stays, with `deleted_ts` set (dlt's soft delete)."""
    max_changes: PositiveInt | None = None
    """At most this many changes in one run (it ends at the next commit after them); the rest wait for the next."""
    max_seconds: PositiveFloat | None = None
    """Read changes for at most this long in one run."""
    defaults: PgReplicationResource = Field(default_factory=PgReplicationResource)
    resources: dict[Name, PgReplicationResource] = Field(default_factory=dict)
    """Asset options per table, keyed by the table's name; the tables themselves come from `tables`."""

    @model_validator(mode="after")
    def _tables_or_schema(self) -> PgReplicationSource:
        if (self.tables is None) == (self.source_schema is None):
            raise ValueError("give `tables: [schema.table, ...]` or `schema: <name>`, one of the two")
        names: dict[str, str] = {}
        for table in self.tables or ():
            schema, name = split_table(table)
            resource = normalize_identifier(name)
            if resource in names:
                raise ValueError(f"`{table}` and `{names[resource]}` would both land as `{resource}`; "
                                 "replicate them from two sources with two datasets")
            names[resource] = table
        unknown = sorted(set(self.resources) - set(names)) if self.tables else []
        if unknown:
            raise ValueError(f"`resources.{unknown[0]}` is not one of `tables`; its key must be a table's name")
        merged = {name: self.resources.get(name, PgReplicationResource()) for name in names}
        object.__setattr__(self, "resources", merged or dict(self.resources))
        return self

    def source_tables(self) -> dict[str, tuple[str, str]]:
        """Resource name -> (schema, table) of the listed tables (empty for `schema:`)."""
        found = {}
        for table in self.tables or ():
            schema, name = split_table(table)
            found[normalize_identifier(name)] = (schema, name)
        return found

    def source_options(self) -> dict[str, Any]:
        """The options that decide a load, without the credentials (they may hold a password)."""
        return {k: v for k, v in super().source_options().items() if k != "credentials"}

    def asset_uri(self, name: str) -> str | None:
        schema, table = self.source_tables().get(name, (self.source_schema or "public", name))
        return f"postgresql://slot/{self.slot}/{schema}.{table}"


def split_table(text: str) -> tuple[str, str]:
    """`public.orders` -> (`public`, `orders`); a bare name is in `public`.

    Examples:
        >>> split_table("sales.orders"), split_table("orders")
        (('sales', 'orders'), ('public', 'orders'))
    """
    schema, dot, name = text.rpartition(".")
    return (schema if dot else "public"), name


def credentials_value(credentials: str | dict[str, Any]) -> str | dict[str, Any]:
    """The URI or fields to log in with: `{env: VAR}` is read from the environment now."""
    if isinstance(credentials, dict) and set(credentials) == {"env"}:
        name = str(credentials["env"])
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"`credentials: {{env: {name}}}`: the environment variable `{name}` is not set; "
                              "set it to the source's `postgresql://` URI")
        return value
    return credentials
