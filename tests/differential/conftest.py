"""Fixtures of the differential harness: the CI corpus, loaded once per session on the shared server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import diff_harness  # noqa: E402
from diff_corpus import CI_EXAMPLES  # noqa: E402
from pg_assets.connection import ConnectionConfig  # noqa: E402



@pytest.fixture(scope="session")
def corpus(pg_credentials: ConnectionConfig, tmp_path_factory: pytest.TempPathFactory,
           ) -> list[diff_harness.Finding]:
    """Every example of the CI corpus, loaded by both tools and compared (its datasets already dropped)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        harness = diff_harness.Harness(pg_credentials, tmp_path_factory.mktemp("dlt_pipelines"))
        return diff_harness.run_corpus(harness, CI_EXAMPLES)
