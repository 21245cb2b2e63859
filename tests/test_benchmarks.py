"""Smoke test of the benchmark suite: a quick run of ours alone reports every workload."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, run_python

RUN = ROOT / "benchmarks" / "run.py"

#: Every workload the suite must report, with the implementation that runs it.
EXPECTED = {
    (name, "ours")
    for name in (
        *("a", "b", "c", "c2", "d", "e", "e2", "e3", "f", "g", "h"),
        *("i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x"),
    )
} | {
    ("floor_call", "floor"),
    ("floor_queue", "floor"),
    ("floor_recorded", "floor"),
}


def _run_quick(output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # --impl ours: no network, no original; --quick keeps the run to a few seconds.
    completed = run_python(str(RUN), "--quick", "--impl", "ours", "--json", str(output), *options)
    assert completed.returncode == 0, completed.stderr
    return completed


def _check_figures(results: dict[tuple[str, ...], dict[str, Any]]) -> None:
    for key, result in results.items():
        assert result["errors"] == [], key
        assert result["figures"], key
        assert all(figure > 0 for figure in result["figures"]), key
        assert result["best"] > 0, key


def test_run_quick_reports_a_positive_figure_for_every_workload(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    completed = _run_quick(output, "--no-uvloop")
    report = json.loads(output.read_text(encoding="utf-8"))
    results = {(result["name"], result["impl"]): result for result in report["results"]}
    assert results.keys() == EXPECTED
    _check_figures(results)
    assert {result["loop"] for result in report["results"]} == {"asyncio"}
    assert "original" not in report["implementations"]
    # Every library row with a floor has its ratio to it; the three largest are reported.
    assert len(report["slowest_over_floor"]) == 3
    assert "slowest relative to their floor" in completed.stdout
    assert "uvloop" not in completed.stdout.splitlines()[2]  # the table's header


def test_run_quick_under_uvloop_reports_both_loops(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    output = tmp_path / "results.json"
    completed = _run_quick(output, "--only", "e,i")
    report = json.loads(output.read_text(encoding="utf-8"))
    results = {
        (result["name"], result["impl"], result["loop"]): result for result in report["results"]
    }
    assert results.keys() == {
        *((name, "ours", loop) for name in ("e", "i") for loop in ("asyncio", "uvloop")),
        ("floor_queue", "floor", "asyncio"),
        ("floor_call", "floor", "asyncio"),
    }
    _check_figures(results)
    assert report["implementations"]["ours@uvloop"]["loop"] == "uvloop"
    assert report["uvloop"] == report["implementations"]["ours@uvloop"]["loop_version"]
    header = completed.stdout.splitlines()[2]
    assert header.split()[-4:] == ["ours", "uvloop", "ratio", "uvloop"]


def test_debug_cost_quick_reports_both_operations() -> None:
    completed = run_python(str(RUN.with_name("debug_cost.py")), "--quick")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "publish reaching nobody",
        "publish + consume_nowait()",
    ]
    assert all(" ns with (" in line for line in lines)


def test_run_without_uvloop_says_so_in_its_columns(tmp_path: Path) -> None:
    # sys.modules["uvloop"] = None makes uvloop unimportable, as if it were not installed.
    script = (
        "import runpy, sys; sys.modules['uvloop'] = None;"
        f" sys.path.insert(0, {str(RUN.parent)!r});"
        f" sys.argv = [{str(RUN)!r}, '--quick', '--impl', 'ours', '--only', 'i'];"
        f" runpy.run_path({str(RUN)!r}, run_name='__main__')"
    )
    completed = run_python("-c", script)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "uvloop is not installed" in lines[0]
    row = next(line for line in lines if line.startswith("i "))
    assert row.split()[-4:] == ["no", "uvloop", "no", "uvloop"]


def test_bench_retain_quick_reports_every_row() -> None:
    completed = run_python(str(ROOT / "benchmarks" / "bench_retain.py"), "--quick")
    assert completed.returncode == 0, completed.stderr
    for row in ("retain / publish", "replay / live", "sqlite (retains/s)", "loop lag", "memory"):
        assert row in completed.stdout, completed.stdout
