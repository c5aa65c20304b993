"""`pg-assets init`: a working project written into an empty folder, from templates in the package.

The templates ship inside the package (`templates/`), so a wheel installed anywhere can
write a project without this repository:

- `common/` is copied as it is: the dbt project's settings and profile, `dagster.yaml`;
- `<kind>/` per source kind asked for: `source.yaml` (its source in `pipelines.yaml`) and
  the files its example needs to run offline (data, a python module, a dbt model);
  a `NAME.db.sql` file becomes the SQLite database `NAME.db`, built by running it;
- `pipelines_head.yaml` opens `pipelines.yaml`, `gitignore` is merged into `.gitignore`,
  `pyproject.toml` tells `dagster dev` and `dg dev` where the definitions are.

Nothing is overwritten: when a file to write exists, nothing is written and the error
names every such file. Only `.gitignore` may exist; the lines it lacks are added.

Examples:
    >>> parse_kinds("files, python")
    ('files', 'python')
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from pg_assets.errors import ConfigError, did_you_mean
from pg_assets.sources import KINDS

__all__ = ["DEFAULT_KINDS", "Written", "dagster_yaml", "init_project", "parse_kinds"]

DEFAULT_KINDS = ("python", "files")
SPEC_NAME = "pipelines.yaml"
SCHEMA_NAME = "pipelines.schema.json"
SOURCES_YML = PurePosixPath("dbt_project/models/sources.yml")
_SOURCE_SNIPPET = "source.yaml"
_SQLITE_SCRIPT = ".db.sql"  # `crm.db.sql` is run into the SQLite file `crm.db`


def _templates() -> Traversable:
    return resources.files(__name__) / "templates"


def dagster_yaml() -> str:
    """The `dagster.yaml` of a project: Dagster's runs kept with it (see `pg_assets.dagster.storage`)."""
    return (_templates() / "common" / "dagster.yaml").read_text(encoding="utf-8")


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """The kinds named in `--kinds` (comma-separated), in the order given; the default when empty."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    for name in names:
        if name not in KINDS:
            known = ", ".join(f"`{k}`" for k in KINDS)
            raise ConfigError(f"`--kinds {text}`: no source kind `{name}`; expected some of {known}."
                              f"{did_you_mean(name, KINDS)}")
    return tuple(dict.fromkeys(names)) or DEFAULT_KINDS


def _tree(folder: Traversable, prefix: PurePosixPath = PurePosixPath()) -> Iterator[tuple[PurePosixPath, Traversable]]:
    """Every template file under `folder`, with its path relative to it.

    Not the byte code an installer compiles of the template modules (`__pycache__/`, as pip does by default).
    """
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
            continue
        if entry.is_dir():
            yield from _tree(entry, prefix / entry.name)
        else:
            yield prefix / entry.name, entry


def _copied_files(kinds: Sequence[str]) -> dict[PurePosixPath, Traversable]:
    """Project path -> template of every file copied (or, for `*.db.sql`, built) as it is."""
    files = dict(_tree(_templates() / "common"))
    for kind in kinds:
        files.update((path, entry) for path, entry in _tree(_templates() / kind) if path.name != _SOURCE_SNIPPET)
    return {_target(path): entry for path, entry in files.items()}


def _target(path: PurePosixPath) -> PurePosixPath:
    return path.with_name(path.name.removesuffix(".sql")) if path.name.endswith(_SQLITE_SCRIPT) else path


def spec_text(kinds: Sequence[str]) -> str:
    """`pipelines.yaml`: the opening comments and destination, then one example source per kind."""
    head = (_templates() / "pipelines_head.yaml").read_text(encoding="utf-8")
    snippets = [(_templates() / kind / _SOURCE_SNIPPET).read_text(encoding="utf-8") for kind in kinds]
    return head + "\n".join(snippets)


def _pyproject_text(directory: Path) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", directory.name.lower()).strip("_") or "pg_assets_project"
    return (_templates() / "pyproject.toml").read_text(encoding="utf-8").format(name=name)


@dataclass(frozen=True)
class Written:
    """What `init_project` wrote, relative to the project folder."""

    directory: Path
    files: tuple[PurePosixPath, ...]
    gitignore: str  # `written`, `extended` or `kept`


def planned_files(kinds: Sequence[str]) -> list[PurePosixPath]:
    """Every file `init_project` writes for `kinds` (but `.gitignore`, which it may extend)."""
    return [PurePosixPath(SPEC_NAME), PurePosixPath(SCHEMA_NAME), PurePosixPath("pyproject.toml"), SOURCES_YML,
            *_copied_files(kinds)]


def init_project(directory: Path, kinds: Sequence[str] = DEFAULT_KINDS) -> Written:
    """Write a project for `kinds` into `directory` (made when missing); never overwrite a file.

    Raises:
        ConfigError: a file it would write exists already (every such file is named).
    """
    directory = Path(directory).absolute()
    planned = planned_files(kinds)
    existing = [str(p) for p in planned if (directory / p).exists()]
    if existing:
        raise ConfigError(
            f"`pg-assets init` writes no file that exists, and `{directory}` has {', '.join(existing)}. "
            f"Run it in an empty folder (`pg-assets init my_project`), or move those files away"
        )
    _write_files(directory, kinds)
    _write_dbt_sources(directory)
    return Written(directory, tuple(planned), _merge_gitignore(directory / ".gitignore"))


def _write_files(directory: Path, kinds: Sequence[str]) -> None:
    # imported when writing: the CLI's parser imports this module, and `--help` should not pay for the spec
    from pg_assets.spec.document import json_schema_text

    texts = {SPEC_NAME: spec_text(kinds), SCHEMA_NAME: json_schema_text(), "pyproject.toml": _pyproject_text(directory)}
    for name, text in texts.items():
        _write(directory / name, text)
    for path, entry in _copied_files(kinds).items():
        target = directory / path
        if entry.name.endswith(_SQLITE_SCRIPT):
            _build_sqlite(target, entry.read_text(encoding="utf-8"))
        else:
            _write(target, entry.read_text(encoding="utf-8"))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": a file that appeared meanwhile is not overwritten
        out.write(text)


def _build_sqlite(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise ConfigError(f"`{path}` exists; `pg-assets init` does not overwrite it")
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
        conn.commit()
    finally:
        conn.close()


def _write_dbt_sources(directory: Path) -> None:
    """dbt's `sources.yml` from the written spec, as `pg-assets dbt-sources` writes it (root tables only)."""
    from pg_assets.dbt.sources import write_dbt_sources
    from pg_assets.spec import load_spec

    write_dbt_sources(load_spec(directory / SPEC_NAME), directory / SOURCES_YML, discover=False)


def _merge_gitignore(path: Path) -> str:
    """Write `.gitignore`, or add the lines it lacks to one that exists."""
    wanted = (_templates() / "gitignore").read_text(encoding="utf-8")
    if not path.exists():
        _write(path, wanted)
        return "written"
    text = path.read_text(encoding="utf-8")
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted.splitlines() if line.strip() and not line.startswith("#")
               and line.strip() not in have]
    if not missing:
        return "kept"
    path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(missing) + "\n",
                    encoding="utf-8")
    return "extended"
