"""`benchmarks/run_all.py` at a tiny size: every path measured against its limit, the JSON and chart written.

The figures themselves are noise at this size; what is checked is that each benchmark ran in its own
process against the session's embedded server, that every path has a positive rate beside its limit, that
the machine is recorded, and that the chart is a real PNG of sensible size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {"arrow", "adbc", "parquet", "jsonl", "jsonl_dicts", "dicts_copy", "dicts_insert_values",
            "dicts_default"}


def test_run_all_writes_results_and_chart(pg_credentials, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--rows", "1500", "--out",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["rows"] == 1500
    machine = results["machine"]
    assert machine["cpu_count"] == os.cpu_count()
    assert machine["postgres"].split(".")[0].isdigit()
    paths = {p["path"]: p for p in results["paths"]}
    assert set(paths) == EXPECTED
    for p in paths.values():
        assert p["rows_per_s"] > 0 and p["limit_rows_per_s"] > 0
        assert abs(p["ratio_to_limit"] - p["rows_per_s"] / p["limit_rows_per_s"]) < 1e-9
    # every variant loaded every row, limits included
    for bench in results["variants"].values():
        for figures in bench.values():
            assert figures.get("rows", figures.get("flat_rows")) == 1500
    assert {"client encode", "read + COPY", "commit"} <= set(paths["arrow"]["phases"])
    assert "ratio_to_baseline" in paths["dicts_copy"] and paths["dicts_copy"]["target"] == 2.0
    assert len(machine["load_average_at_start"]) == 3

    with Image.open(tmp_path / "results.png") as png:
        assert png.format == "PNG"
        width, height = png.size
        title = png.text["Title"]  # what the chart's title says, kept in the PNG's text chunk
    assert f"{machine['cpu_count']} CPUs" in title and f"PostgreSQL {machine['postgres']}" in title
    assert machine["platform"] in title
    assert width >= 600 and height >= 300
    assert (tmp_path / "results.png").stat().st_size < 200_000

