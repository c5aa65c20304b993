"""The documentation site builds with no broken link, and its pipelines.yaml reference is the generated one."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_page_is_generated_from_the_schema() -> None:
    gen = _generator()
    committed = gen.PAGE.read_text(encoding="utf-8")
    assert committed == gen.render(gen.json.loads(gen.SCHEMA.read_text(encoding="utf-8"))), \
        "run `python docs/gen_reference.py`"


def test_reference_page_lists_every_key_of_the_schema() -> None:
    gen = _generator()
    schema = gen.json.loads(gen.SCHEMA.read_text(encoding="utf-8"))
    page = gen.PAGE.read_text(encoding="utf-8")
    for name, model in schema["$defs"].items():
        section = page.split(f"## {name} ", 1)[1].split("\n## ", 1)[0]
        missing = [key for key in model.get("properties", {}) if f"| `{key}` |" not in section]
        assert missing == [], f"{name}: {missing}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a link to a missing page or anchor fails the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "reference" / "pipelines-yaml" / "index.html").is_file()
    assert (tmp_path / "site" / "sources" / "sql_database" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The same build over a copy of the docs with one dead anchor: strict mode must refuse it."""
    import shutil

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [nowhere](dagster.md#no-such-section).\n")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "no-such-section" in done.stdout + done.stderr
