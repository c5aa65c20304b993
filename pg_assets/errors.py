"""Every error pg_assets raises, under one root.

Callers catch `PgAssetsError` to handle anything from us; the subclasses say which
stage failed and keep their inputs as attributes, so a program can react without
parsing messages.

    PgAssetsError
    ├── ConfigError                 bad user input, found before anything is written
    │   ├── CredentialsError        missing or malformed credentials, server unreachable, login refused, TLS
    │   ├── PrivilegeError          the role lacks a privilege the load needs (object, privilege, GRANT)
    │   ├── UnsuitableDestinationError  a hot standby, a read-only default, transaction pooling
    │   ├── SpecError               pipelines.yaml problems (all of them, located)
    │   ├── SchemaContractError     data the schema contract forbids (table, column, value)
    │   └── BadDataError            a value or key that cannot be stored as given (table, column, row)
    ├── EmbeddedServerError         the embedded Postgres could not be started or reached
    └── LoadError                   a load failed; nothing of it became visible
        ├── TerminalLoadError       the data or the SQL is wrong; retrying will not help
        ├── TransientLoadError      connection loss, deadlock, serialization failure: retried, then raised
        │   └── ServerUnavailableError  the destination refused or dropped new connections past the retries
        ├── DependentObjectsError   an object a swap cannot create again depends on a table it replaces
        ├── StoredSchemaError       a schema stored in the dataset cannot be read; nothing was written
        └── LockTimeoutError        another run of the same pipeline and dataset holds the lock

Messages never contain a password: credentials are rendered with `ConnectionConfig.safe_uri()`.
"""

from __future__ import annotations

import difflib
import sysconfig
import traceback
from collections.abc import Iterable
from pathlib import Path


class PgAssetsError(Exception):
    """Root of every pg_assets error."""


class ConfigError(PgAssetsError):
    """User input is wrong; the message says where and how to fix it."""


class CredentialsError(ConfigError):
    """Credentials are missing, malformed or refused by the server."""


class PrivilegeError(ConfigError):
    """The role lacks privileges a load needs; raised before any row is staged.

    Attributes:
        role: the role the credentials log in as.
        missing: `(privilege, object kind, object name)` of every privilege lacking.
        grants: the statements (run by an owner or superuser) that give them.
    """

    def __init__(self, message: str, *, role: str, missing: list[tuple[str, str, str]], grants: list[str]) -> None:
        super().__init__(message)
        self.role = role
        self.missing = list(missing)
        self.grants = list(grants)


class UnsuitableDestinationError(ConfigError):
    """The destination cannot take a load as connected: refused at the start, before anything is written.

    Attributes:
        reason: `hot_standby`, `read_only` (`default_transaction_read_only`) or
            `transaction_pooling` (a pooler that hands each transaction another server session).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SpecError(ConfigError):
    """A pipelines.yaml file is invalid.

    Attributes:
        issues: every problem found, each with file, line, column and key path.
    """

    def __init__(self, message: str, issues: list | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])


class SchemaContractError(ConfigError):
    """Data violates a `freeze` schema contract; raised before anything is written."""

    def __init__(self, message: str, *, table: str, column: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.value = value


class BadDataError(ConfigError):
    """An item holds something Postgres cannot store as given; raised before the load commits.

    Attributes:
        table: the table the item was going to.
        column: the column (normalised name) at fault.
        row: the position of the item in the load, counting from 1.
        value: the value at fault, when one value is.
    """

    def __init__(self, message: str, *, table: str, column: str, row: int, value: object = None) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.row = row
        self.value = value


class EmbeddedServerError(PgAssetsError):
    """The embedded Postgres server could not be started, found or stopped."""


class LoadError(PgAssetsError):
    """A load failed. Nothing it wrote is visible and pipeline state did not move.

    Attributes:
        table: the table being written when it failed, if known.
        load_id: the id of the failed load.
    """

    def __init__(self, message: str, *, table: str | None = None, load_id: str | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.load_id = load_id


class TerminalLoadError(LoadError):
    """Bad data, a constraint violation or bad SQL: retrying cannot help."""

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        value: object = None,
        load_id: str | None = None,
    ) -> None:
        super().__init__(message, table=table, load_id=load_id)
        self.column = column
        self.value = value


class TransientLoadError(LoadError):
    """A retryable failure that kept happening after the bounded retries."""


class ServerUnavailableError(TransientLoadError):
    """No connection to the destination could be opened: nothing answered, or it broke while opening.

    Unlike `CredentialsError`, this may pass by itself: connections are retried with
    backoff (`pg_assets.load.retry`) before it is raised.
    """


class DependentObjectsError(TerminalLoadError):
    """An object a `staging-optimized` swap cannot create again (a rule, a trigger, a foreign key from
    another table, a view of a role the loader cannot act for...) depends on a table it would drop.

    Raised before anything is staged; views it can create again do not raise it (see `dependents`).
    """


class StoredSchemaError(TerminalLoadError):
    """A schema document in the dataset's `_dlt_version` cannot be read (say, a newer dlt engine wrote it).

    Raised before anything is written, so the dataset stays as it was.

    Attributes:
        schema_name: the stored schema that cannot be read.
        dataset: the dataset that holds it.
    """

    def __init__(self, message: str, *, schema_name: str, dataset: str) -> None:
        super().__init__(message)
        self.schema_name = schema_name
        self.dataset = dataset


class LockTimeoutError(LoadError):
    """Another run of the same pipeline and dataset held the lock for too long."""


def closest(word: object, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice closest to a mistyped `word`, if one is close enough: the one suggestion helper."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


# the end of every message that finds no pipelines.yaml (the CLI's commands, the definitions)
NO_SPEC_HINT = ("To start a project here, run `pg-assets init` (it writes a pipelines.yaml that runs as it is); "
                "or name your spec file with `-f FILE`")


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` Did you mean `x`?` for the closest choice, or an empty string (sqlglot's wording)."""
    close = closest(word, choices)
    return f" Did you mean `{close}`?" if close else ""


_OURS = Path(__file__).resolve().parent
_LIBRARIES = tuple(Path(p).resolve() for p in {sysconfig.get_path(k) for k in ("stdlib", "purelib", "platlib")} if p)


def user_code_location(exc: BaseException) -> str | None:
    """`file:line in function` of the deepest frame of `exc` in the user's own code, if any.

    The user's code is whatever is neither pg_assets, nor the standard library, nor an
    installed package: where a `function:` source or a `pg_assets.resource` generator raised.
    """
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename).resolve()
        if not frame.filename.startswith("<") and not any(path.is_relative_to(p) for p in (_OURS, *_LIBRARIES)):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return None
