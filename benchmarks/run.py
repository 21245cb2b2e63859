"""Measure this aiopubsub against the original 3.0.0 and bare floors, side by side, in one run.

Usage (from anywhere)::

    python3 benchmarks/run.py            # full run, about three minutes on two cores
    python3 benchmarks/run.py --quick    # small sizes: a smoke test of the suite itself
    python3 benchmarks/run.py --rst      # the same measurements, printed as an RST table
    python3 benchmarks/run.py --impl ours --json results.json   # offline: no original
    python3 benchmarks/run.py --no-uvloop   # asyncio's own event loop only

Each implementation runs in a worker process of its own (``worker.py``), because both packages
are called ``aiopubsub``: ours from the working tree, the original from a folder that
``original.py`` fills from PyPI once, and the floors with no library at all. Decisions:

* Every workload is repeated for several rounds, each round timing a few short batches on
  fresh state, and the best (minimum) time per operation of all batches is kept: noise only
  ever adds time. Within a round each workload runs once per implementation, back to back
  and followed by its floor, in an order that rotates from round to round, so that a noisy
  spell hits every implementation alike. Workers run one at a time, never in parallel.
* Ratios are gains, original / ours, for time and memory alike; the table prints time gains as
  a speed-up and the memory gain as the fraction ours / original, and a target is met when the
  gain reaches it.
* A failing workload is reported and the run goes on; the exit status is then 1. Missing a
  target is a result, not a failure: the exit status stays 0.
* Each library also runs every workload under uvloop, in workers of its own (``--loop uvloop``),
  interleaved with the others; the table adds ours and the ratio under uvloop, and targets are
  judged under asyncio's own loop. Without uvloop installed those columns say so. Floors run
  under asyncio's loop only.
* After the table, the three library rows slowest relative to their floor (ours time / floor
  time), each with what bounds it (``Workload.bound``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import selectors
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import recorded
from original import ORIGINAL_VERSION, ensure_original
from workloads import WORKLOADS, Workload

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "worker.py"

#: Implementation names, as used in the JSON output and on the command line.
OURS, ORIGINAL, FLOOR = "ours", "original", "floor"
#: Event loops: asyncio's own, and uvloop.
ASYNCIO, UVLOOP = "asyncio", "uvloop"
#: What the uvloop columns hold when uvloop cannot be imported.
NO_UVLOOP = "no uvloop"
#: How many of the slowest rows relative to their floor the report names.
SLOWEST = 3
#: Rounds per workload: the best of them is reported.
FULL_ROUNDS, QUICK_ROUNDS = 5, 2
#: Timed batches per round (see ``workloads.py``): the best batch of all rounds is reported.
FULL_BATCHES, QUICK_BATCHES = 5, 2
#: How long one request may run inside the worker, and how much longer run.py waits for the
#: answer before it gives up on the worker altogether.
REQUEST_TIMEOUT, GRACE = 120.0, 30.0


#: The paragraph under the RST table.
RST_LEGEND = """\
Times are per operation, from the best timed batch of all rounds; a floor is the same loop with
no library (a direct call, a bare ``asyncio.Queue``, a dict of precomputed routes). Ratio:
speed-up, original time / ours time; for h, memory retained by ours / by the original.
The uvloop columns: the same workloads, both libraries under uvloop {uvloop}.
Reproduce with ``python3 benchmarks/run.py --rst``; {summary}."""


class WorkerError(RuntimeError):
    """A worker could not be started, or stopped answering."""


@dataclass
class Worker:
    """One running worker process and what it said about itself."""

    impl: str
    process: subprocess.Popen[str]
    loop: str = ASYNCIO
    version: str | None = None
    file: str | None = None
    loop_version: str | None = None

    @property
    def label(self) -> str:
        """``ours``, ``original``, ``floor``, or one of those with ``@uvloop``."""
        return self.impl if self.loop == ASYNCIO else f"{self.impl}@{self.loop}"

    def read(self, timeout: float) -> dict[str, Any]:
        """Return the worker's next protocol line.

        :raises WorkerError: if none arrives within ``timeout`` seconds or the worker died.
        """
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise WorkerError(f"worker {self.label!r} did not answer within {timeout:.0f} s")
        line = stdout.readline()
        if not line:
            raise WorkerError(f"worker {self.label!r} exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, workload: Workload, size: int, batches: int) -> dict[str, Any]:
        """Run ``workload`` once: ``size`` operations in ``batches``; return the answer."""
        stdin = self.process.stdin
        assert stdin is not None
        request = {
            "workload": workload.name,
            "size": size,
            "batches": batches,
            "timeout": REQUEST_TIMEOUT,
        }
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        return self.read(REQUEST_TIMEOUT + GRACE)

    def close(self) -> None:
        """Ask the worker to quit, and kill it if it does not within a few seconds."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.write(json.dumps({"quit": True}) + "\n")
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def start_worker(impl: str, library: Path | None, logging_mode: str, loop: str = ASYNCIO) -> Worker:
    """Start a worker for ``impl`` whose only ``aiopubsub`` is the one under ``library``,
    running its workloads under the event loop ``loop``.

    ``PYTHONPATH`` is replaced, not extended, and ``PYTHONHASHSEED`` is fixed, so that every
    worker of every run lays out its dicts and sets alike. A worker without a library (the
    floors) gets no ``PYTHONPATH`` at all.

    :raises WorkerError: if the worker does not greet, or could not import its library.
    """
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["PYTHONHASHSEED"] = "0"
    command = [sys.executable, str(WORKER), "--impl", impl, "--logging", logging_mode]
    command += ["--loop", loop]
    if library is None:
        command.append("--no-library")
    else:
        env["PYTHONPATH"] = str(library)
        command += ["--expect-dir", str(library)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE
    )
    worker = Worker(impl, process, loop)
    try:
        greeting = worker.read(60.0)
    except WorkerError:
        worker.close()
        raise
    if "error" in greeting:
        worker.close()
        raise WorkerError(
            f"worker {worker.label!r} could not import its library or loop:\n{greeting['error']}"
        )
    worker.version, worker.file = greeting["version"], greeting["file"]
    worker.loop_version = greeting["loop_version"]
    return worker


@dataclass
class Result:
    """Everything measured for one workload and one implementation.

    :param figures: one figure per timed batch of every successful round: seconds per
        operation, or retained bytes for a memory workload.
    :param batches: ``[operations, seconds]`` of every timed batch, as the worker sent them.
    """

    workload: Workload
    impl: str
    size: int
    loop: str = ASYNCIO
    figures: list[float] = field(default_factory=list)
    batches: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def best(self) -> float | None:
        """The best (lowest) figure, ``None`` if no round succeeded."""
        return min(self.figures) if self.figures else None

    def add(self, answer: dict[str, Any]) -> None:
        """Record one worker answer."""
        if not answer.get("ok"):
            self.errors.append(str(answer.get("error")))
            return
        if answer.get("loop") != self.loop:
            self.errors.append(f"ran under {answer.get('loop')!r}, not {self.loop!r}")
            return
        self.batches += answer["batches"]
        if self.workload.memory:
            self.figures.append(float(answer["retained_bytes"]))
        else:
            self.figures += [seconds / ops for ops, seconds in answer["batches"]]


def _gain(ours: Result | None, original: Result | None) -> float | None:
    """original / ours, for time and memory alike; ``None`` if either is missing."""
    ours_best = ours.best if ours else None
    original_best = original.best if original else None
    if not ours_best or not original_best:
        return None
    return original_best / ours_best


@dataclass
class Row:
    """One line of the report: a library workload, its results and its floor."""

    workload: Workload
    ours: Result | None
    original: Result | None
    floor: Result | None
    ours_uvloop: Result | None = None
    original_uvloop: Result | None = None

    @property
    def gain(self) -> float | None:
        """original / ours, for time and memory alike; ``None`` if either is missing."""
        return _gain(self.ours, self.original)

    @property
    def gain_uvloop(self) -> float | None:
        """:attr:`gain` with both libraries under uvloop."""
        return _gain(self.ours_uvloop, self.original_uvloop)

    @property
    def over_floor(self) -> float | None:
        """ours time / floor time; ``None`` without a floor, a figure, or for memory."""
        ours = self.ours.best if self.ours else None
        floor = self.floor.best if self.floor else None
        if self.workload.memory or not ours or not floor:
            return None
        return ours / floor

    @property
    def met(self) -> bool | None:
        """Whether the target was reached; ``None`` without a target or a gain."""
        gain = self.gain
        if self.workload.target is None or gain is None:
            return None
        return gain >= self.workload.target


# -- measuring ----------------------------------------------------------------------------------


def _rotated(items: Sequence[Any], by: int) -> list[Any]:
    """``items`` rotated left by ``by``: each round starts with another implementation."""
    if not items:
        return []
    by %= len(items)
    return [*items[by:], *items[:by]]


Job = tuple[Workload, Worker]
#: A result's key: workload name, implementation, event loop.
ResultKey = tuple[str, str, str]


def schedule(workloads: Sequence[Workload], workers: dict[str, Worker]) -> list[list[Job]]:
    """The jobs of one round, in groups that run back to back.

    A group is one library workload on every library worker, joined by its floor the first
    time that floor is needed, so that a floor is measured next to the rows it is printed in.
    A floor no selected workload needs gets a group of its own.
    """
    library = [worker for worker in workers.values() if worker.impl != FLOOR]
    floors = {workload.name: workload for workload in workloads if workload.is_floor}
    groups: list[list[Job]] = []
    for workload in workloads:
        if workload.is_floor:
            continue
        group: list[Job] = [(workload, worker) for worker in library]
        if workload.floor in floors:
            group.append((floors.pop(workload.floor), workers[FLOOR]))
        groups.append(group)
    groups += [[(floor, workers[FLOOR])] for floor in floors.values()]
    return groups


def measure(
    workloads: Sequence[Workload], workers: dict[str, Worker], rounds: int, quick: bool
) -> dict[ResultKey, Result]:
    """Run every workload on every fitting worker for ``rounds`` interleaved rounds."""
    batches = QUICK_BATCHES if quick else FULL_BATCHES
    groups = schedule(workloads, workers)
    results: dict[ResultKey, Result] = {}
    for round_index in range(rounds):
        started = time.perf_counter()
        print(f"round {round_index + 1}/{rounds}:", end="", file=sys.stderr, flush=True)
        for group in groups:
            for workload, worker in _rotated(group, round_index):
                size = workload.quick_size if quick else workload.size
                result = results.setdefault(
                    (workload.name, worker.impl, worker.loop),
                    Result(workload, worker.impl, size, worker.loop),
                )
                result.add(worker.run(workload, size, batches))
            print(f" {group[0][0].name}", end="", file=sys.stderr, flush=True)
        print(f" ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    return results


def build_rows(workloads: Sequence[Workload], results: dict[ResultKey, Result]) -> list[Row]:
    """One row per library workload, with its floor's result when it has one."""
    return [
        Row(
            workload,
            results.get((workload.name, OURS, ASYNCIO)),
            results.get((workload.name, ORIGINAL, ASYNCIO)),
            results.get((workload.floor, FLOOR, ASYNCIO)) if workload.floor else None,
            results.get((workload.name, OURS, UVLOOP)),
            results.get((workload.name, ORIGINAL, UVLOOP)),
        )
        for workload in workloads
        if not workload.is_floor
    ]


# -- formatting ---------------------------------------------------------------------------------


def format_time(seconds: float) -> str:
    """A duration per operation in the unit that suits it: ``85 ns``, ``1.23 us``, ``4.5 ms``."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    return f"{seconds * 1e3:.3g} ms"


def format_bytes(count: float) -> str:
    """A byte count in KiB or MiB."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB"
    return f"{count / 1024:.0f} KiB"


def _figure(row: Row, result: Result | None) -> str:
    if result is None:
        return "-"
    if result.best is None:
        return "FAILED"
    return format_bytes(result.best) if row.workload.memory else format_time(result.best)


def _ratio(row: Row, gain: float | None) -> str:
    if gain is None:
        return "-"
    if row.workload.memory:
        return f"{1 / gain:.3f} (1/{gain:.0f})"
    # Two decimals below 1: a slow-down of 0.05x must not read as 0.0x.
    return f"{gain:.1f}x" if gain >= 0.95 else f"{gain:.2f}x"


def _target(row: Row) -> str:
    target = row.workload.target
    if target is None:
        return "-"
    return f"<= 1/{target:g}" if row.workload.memory else f">= {target:g}x"


def _verdict(row: Row) -> str:
    met = row.met
    return "-" if met is None else "met" if met else "MISSED"


def table_cells(
    rows: Sequence[Row], original_label: str, uvloop: str | None = None
) -> list[list[str]]:
    """The report as a header row followed by one row of cells per workload.

    :param uvloop: ``None`` for no uvloop columns; else what fills them when a figure is
        missing: ``"-"`` when uvloop ran, :data:`NO_UVLOOP` when it could not.
    """
    header = ["", "workload", "N", OURS, original_label, "floor", "ratio", "target", "verdict"]
    if uvloop is not None:
        header += ["ours uvloop", "ratio uvloop"]
    cells = [header]
    for row in rows:
        measured = row.ours or row.original
        line = [
            row.workload.name,
            row.workload.title,
            f"{measured.size:,}" if measured else "-",
            _figure(row, row.ours),
            _figure(row, row.original),
            _figure(row, row.floor),
            _ratio(row, row.gain),
            _target(row),
            _verdict(row),
        ]
        if uvloop is not None:
            gain = row.gain_uvloop
            line.append(_figure(row, row.ours_uvloop) if row.ours_uvloop else uvloop)
            line.append(_ratio(row, gain) if gain is not None else uvloop)
        cells.append(line)
    return cells


def _widths(cells: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]


def _aligned(line: Sequence[str], widths: Sequence[int]) -> str:
    """The two text columns left-aligned, the figures right-aligned."""
    parts = [cell.ljust(width) for cell, width in zip(line[:2], widths[:2])]
    parts += [cell.rjust(width) for cell, width in zip(line[2:], widths[2:])]
    return "  ".join(parts).rstrip()


def plain_table(cells: Sequence[Sequence[str]]) -> str:
    """The report for a terminal."""
    widths = _widths(cells)
    rule = "  ".join("-" * width for width in widths)
    lines = [_aligned(cells[0], widths), rule]
    lines += [_aligned(line, widths) for line in cells[1:]]
    return "\n".join(lines)


def rst_table(cells: Sequence[Sequence[str]]) -> str:
    """The report as an RST simple table.

    A cell that is only ``-`` would be read as an empty bullet list, so it is escaped; the only
    empty cell, the header's first, is harmless there.
    """
    cells = [[r"\-" if cell == "-" else cell for cell in line] for line in cells]
    widths = _widths(cells)
    rule = "  ".join("=" * width for width in widths)
    lines = [rule, _aligned(cells[0], widths), rule]
    lines += [_aligned(line, widths) for line in cells[1:]]
    lines.append(rule)
    return "\n".join(lines)


def slowest(rows: Sequence[Row], count: int = SLOWEST) -> list[str]:
    """The ``count`` rows whose time is the largest multiple of their floor's, one line each
    with what bounds them; ours under asyncio's loop."""
    ranked = sorted(
        (row for row in rows if row.over_floor is not None),
        key=lambda row: row.over_floor or 0.0,
        reverse=True,
    )
    return [
        f"{row.workload.name}: {row.over_floor:.1f}x its floor ({row.workload.floor}):"
        f" {row.workload.bound or 'not described'}"
        for row in ranked[:count]
    ]


def notes(rows: Sequence[Row], results: dict[ResultKey, Result]) -> list[str]:
    """What the columns mean, what one operation is, and the floors."""
    lines = [
        "ours, original, floor: time per operation in the best batch of all rounds",
        "                       (h: memory retained, least of all rounds).",
        "ratio: speed-up = original time / ours time (higher is better);",
        "       for h, ours memory / original memory (lower is better).",
        "target -: the row informs, it has no target.",
        "ours uvloop, ratio uvloop: the same, both libraries under uvloop (targets are judged",
        "       under asyncio's own loop).",
        "One operation:",
    ]
    lines += [f"  {row.workload.name}: {row.workload.op}" for row in rows]
    floors = {row.floor.workload.name: row.floor for row in rows if row.floor}
    for result in floors.values():
        if result.best is not None:
            used_by = ", ".join(row.workload.name for row in rows if row.floor is result)
            lines.append(f"floor of {used_by}: {result.workload.title}")
    failed = sorted({key for key, result in results.items() if result.errors})
    if failed:
        lines.append(
            "FAILED rounds: " + ", ".join(f"{name} ({impl}, {loop})" for name, impl, loop in failed)
        )
    return lines


def verdict_summary(rows: Sequence[Row], quick: bool = False) -> str:
    """``targets met: 7 of 8; missed: ...``, or why there is no verdict; then the same under
    uvloop, where it ran."""
    judged = [row for row in rows if row.met is not None]
    if not judged:
        return "targets: not judged (the original was not measured)"
    missed = [row.workload.name for row in judged if not row.met]
    summary = f"targets met: {len(judged) - len(missed)} of {len(judged)}"
    summary += f"; missed: {', '.join(missed)}" if missed else ""
    under_uvloop = [row for row in judged if row.gain_uvloop is not None]
    if under_uvloop:
        missed = [
            row.workload.name
            for row in under_uvloop
            if (row.gain_uvloop or 0.0) < (row.workload.target or 0.0)
        ]
        summary += f"; under uvloop {len(under_uvloop) - len(missed)} of {len(under_uvloop)}" + (
            f" (missed: {', '.join(missed)})" if missed else ""
        )
    # Quick sizes are too small for some gains (h holds a full route cache of a few keys).
    return summary + (" (quick run: sizes too small to judge)" if quick else "")


# -- the environment ----------------------------------------------------------------------------


def _cpu_model() -> str:
    """The CPU model name: ``platform.processor()``, else ``/proc/cpuinfo``, else the arch."""
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if not model.strip() or model == platform.machine():
        try:
            for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
        except OSError:
            pass
    return model or platform.machine()


def environment() -> dict[str, Any]:
    """When and where the run happened: date, Python, and machine."""
    uname = platform.uname()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{uname.system} {uname.release} {uname.machine}",
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def uvloop_version(workers: dict[str, Worker]) -> str | None:
    """The version of uvloop the uvloop workers ran, ``None`` if none ran."""
    return next((w.loop_version for w in workers.values() if w.loop == UVLOOP), None)


def describe(
    env: dict[str, Any], workers: dict[str, Worker], rounds: int, uvloop: str | None
) -> str:
    """One sentence on what was measured where, for the top of the report."""
    versions = []
    if OURS in workers:
        versions.append(f"aiopubsub {workers[OURS].version} (this tree)")
    if ORIGINAL in workers:
        versions.append(f"aiopubsub {workers[ORIGINAL].version} (PyPI)")
    loops = "asyncio's event loop"
    if uvloop == NO_UVLOOP:
        loops += " (uvloop is not installed)"
    elif uvloop is not None:
        loops += f" and uvloop {uvloop_version(workers)}"
    return (
        f"Measured {env['date']}: {env['python']} on {env['system']},"
        f" {env['processor']}, {env['cpu_count']} CPUs; {' against '.join(versions)};"
        f" {loops}; best of {rounds} interleaved rounds."
    )


def to_json(
    env: dict[str, Any],
    workers: dict[str, Worker],
    rows: Sequence[Row],
    results: dict[ResultKey, Result],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The whole run, for ``--json``: every sample, the best figures, the verdicts.

    ``gain`` is that of the result's event loop; ``met`` is judged under asyncio's loop only.
    """
    workloads = []
    for (name, impl, loop), result in results.items():
        row = next((row for row in rows if row.workload.name == name), None)
        on_asyncio = loop == ASYNCIO
        workloads.append(
            {
                "name": name,
                "impl": impl,
                "loop": loop,
                "title": result.workload.title,
                "op": result.workload.op,
                "size": result.size,
                "unit": "bytes" if result.workload.memory else "seconds/op",
                "best": result.best,
                "figures": result.figures,
                "batches": result.batches,
                "errors": result.errors,
                "target": result.workload.target,
                "gain": (row.gain if on_asyncio else row.gain_uvloop) if row else None,
                "met": row.met if row and on_asyncio else None,
                "over_floor": row.over_floor if row and on_asyncio else None,
            }
        )
    return {
        "environment": env,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "quick": args.quick,
        "rounds": args.rounds,
        "logging": args.logging,
        "implementations": {
            label: {
                "version": worker.version,
                "file": worker.file,
                "loop": worker.loop,
                "loop_version": worker.loop_version,
            }
            for label, worker in workers.items()
        },
        "uvloop": uvloop_version(workers),
        "results": workloads,
        "summary": verdict_summary(rows, args.quick),
        "slowest_over_floor": slowest(rows),
    }


# -- the command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; ``--rounds`` defaults by ``--quick``."""
    parser = argparse.ArgumentParser(
        description="Benchmark this aiopubsub against the original 3.0.0 and bare floors."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--impl",
        choices=("all", OURS, ORIGINAL),
        default="all",
        help="which library to measure (floors always run); 'ours' needs no network",
    )
    parser.add_argument("--rounds", type=int, help="rounds per workload, best kept (default 5)")
    parser.add_argument("--only", help="comma-separated workload names, e.g. 'c,d' (floors too)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--rst", action="store_true", help="print the report as an RST table")
    parser.add_argument(
        "--no-uvloop",
        action="store_true",
        help="skip the runs under uvloop (by default both libraries also run under it)",
    )
    parser.add_argument(
        "--original-dir",
        type=Path,
        help=f"folder holding aiopubsub {ORIGINAL_VERSION} (pip install --target); installed"
        " there if missing (default: a cache folder under ~/.cache)",
    )
    parser.add_argument(
        "--logging",
        choices=("logwood", "stdlib"),
        default="logwood",
        help="logging backend of both libraries, silenced (default: logwood if installed)",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else FULL_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def select_workloads(only: str | None) -> list[Workload]:
    """The workloads named by ``--only`` (with their floors), or all of them.

    :raises SystemExit: if a name is unknown.
    """
    if not only:
        return list(WORKLOADS)
    names = {name.strip() for name in only.split(",") if name.strip()}
    known = {workload.name for workload in WORKLOADS}
    unknown = names - known
    if unknown:
        raise SystemExit(f"unknown workload(s) {sorted(unknown)}; choose from {sorted(known)}")
    names |= {w.floor for w in WORKLOADS if w.name in names and w.floor}
    return [workload for workload in WORKLOADS if workload.name in names]


def uvloop_state(args: argparse.Namespace) -> str | None:
    """What the uvloop columns hold: ``None`` (no columns, ``--no-uvloop``), ``"-"`` for a
    missing figure when uvloop runs, or :data:`NO_UVLOOP` when it is not installed."""
    if args.no_uvloop:
        return None
    if importlib.util.find_spec("uvloop") is None:
        print("uvloop is not installed: its columns stay empty", file=sys.stderr)
        return NO_UVLOOP
    return "-"


def start_workers(args: argparse.Namespace, uvloop: str | None) -> dict[str, Worker]:
    """Start the floor worker and one worker per library and event loop asked for, keyed by
    :attr:`Worker.label`."""
    workers: dict[str, Worker] = {}
    libraries: list[tuple[str, Path]] = []
    if args.impl in ("all", OURS):
        libraries.append((OURS, REPO))
    if args.impl in ("all", ORIGINAL):
        libraries.append((ORIGINAL, ensure_original(ORIGINAL_VERSION, args.original_dir)))
    loops = [ASYNCIO] if uvloop in (None, NO_UVLOOP) else [ASYNCIO, UVLOOP]
    try:
        for loop in loops:
            for impl, folder in libraries:
                worker = start_worker(impl, folder, args.logging, loop)
                workers[worker.label] = worker
                if impl == ORIGINAL and worker.version != ORIGINAL_VERSION:
                    raise WorkerError(
                        f"{folder} holds aiopubsub {worker.version}, not {ORIGINAL_VERSION}"
                    )
        workers[FLOOR] = start_worker(FLOOR, None, args.logging)
    except BaseException:
        for worker in workers.values():
            worker.close()
        raise
    return workers


def prepare_data(workloads: Sequence[Workload]) -> None:
    """Derive the recorded stream into the cache once, before any worker needs it."""
    if any(workload.recorded for workload in workloads) and not recorded.is_cached():
        print(
            f"deriving the recorded stream from {recorded.ASSET.name} (once, some 10 s) ...",
            file=sys.stderr,
            flush=True,
        )
        recorded.load()


def _uvloop_legend(uvloop: str | None, workers: dict[str, Worker]) -> str:
    if uvloop is None:
        return "(not run: --no-uvloop)"
    if uvloop == NO_UVLOOP:
        return "(not run: uvloop is not installed)"
    return f"{uvloop_version(workers)}; targets are judged under asyncio's loop"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; return the exit status."""
    args = parse_args(argv)
    workloads = select_workloads(args.only)
    uvloop = uvloop_state(args)
    prepare_data(workloads)
    try:
        workers = start_workers(args, uvloop)
    except (WorkerError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, subprocess.CalledProcessError):
            print("(offline? run with --impl ours to skip the original)", file=sys.stderr)
        return 2
    try:
        results = measure(workloads, workers, args.rounds, args.quick)
    finally:
        for worker in workers.values():
            worker.close()
    env = environment()
    rows = build_rows(workloads, results)
    original_label = f"original {workers[ORIGINAL].version}" if ORIGINAL in workers else ORIGINAL
    cells = table_cells(rows, original_label, uvloop)
    header = describe(env, workers, args.rounds, uvloop)
    summary = verdict_summary(rows, args.quick)
    slow = slowest(rows)
    if args.rst:
        print(f"{header}\n\n{rst_table(cells)}\n")
        print(RST_LEGEND.format(uvloop=_uvloop_legend(uvloop, workers), summary=summary))
        if slow:
            print(f"\nThe {len(slow)} rows slowest relative to their floor (ours / floor):\n")
            print("\n".join(f"* {line}" for line in slow))
    else:
        print(f"{header}\n\n{plain_table(cells)}\n")
        print("\n".join([*notes(rows, results), summary]))
        if slow:
            print("\nslowest relative to their floor (ours / floor, under asyncio):")
            print("\n".join(f"  {line}" for line in slow))
    if args.json:
        payload = to_json(env, workers, rows, results, args)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    for result in results.values():
        for error in result.errors[:1]:
            print(
                f"\n{result.workload.name} ({result.impl}, {result.loop}) failed:\n{error}",
                file=sys.stderr,
            )
    return 1 if any(result.errors for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
