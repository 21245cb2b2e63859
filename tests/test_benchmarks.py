"""Smoke test of the benchmark suite: a quick run of ours alone reports every workload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

#: Every workload the suite must report, with the implementation that runs it.
EXPECTED = {
    (name, "ours")
    for name in (
        *("a", "b", "c", "c2", "d", "e", "e2", "e3", "f", "g", "h"),
        *("i", "j", "k", "l", "m", "n", "o", "p", "q", "r"),
    )
} | {
    ("floor_call", "floor"),
    ("floor_queue", "floor"),
    ("floor_recorded", "floor"),
}


def test_run_quick_reports_a_positive_figure_for_every_workload(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    # --impl ours: no network, no original; --quick keeps the run to a few seconds.
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--impl", "ours", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    results = {(result["name"], result["impl"]): result for result in report["results"]}
    assert results.keys() == EXPECTED
    for key, result in results.items():
        assert result["errors"] == [], key
        assert result["figures"], key
        assert all(figure > 0 for figure in result["figures"]), key
        assert result["best"] > 0, key
    assert "original" not in report["implementations"]


def test_debug_cost_quick_reports_both_operations() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUN.with_name("debug_cost.py")), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "publish reaching nobody",
        "publish + consume_nowait()",
    ]
    assert all(" ns with (" in line for line in lines)
