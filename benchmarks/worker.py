"""Runs workloads for one implementation of aiopubsub, on request, in a process of its own.

``run.py`` starts one worker per implementation with ``PYTHONPATH`` naming exactly one
``aiopubsub`` (or none, for the floors); both packages are called ``aiopubsub``, so they never
share a process. The protocol is one JSON object per line. The worker first writes a greeting
``{"impl", "version", "file", "loop", "loop_version"}`` (plus ``"error"`` if the library or
the event loop could not be imported), then reads requests ``{"workload": name, "size": n,
"batches": k, "timeout": seconds}`` from stdin and answers each with ``{"ok": true,
"batches": [[ops, seconds], ...], "retained_bytes", "loop"}`` (``loop``: the package of the
loop that ran it) or ``{"ok": false, "error": <traceback>}``; ``{"quit": true}`` or end of
input stops it. Anything else written to stdout (a stray ``print``, a warning) goes to stderr
instead, so it cannot corrupt the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from workloads import by_name

__all__ = ["main"]

#: A level above every real one: logwood formats nothing and prints nothing.
_SILENT = 100
#: How long one request may run when it does not say.
_DEFAULT_TIMEOUT = 120.0


def _configure_logging(mode: str) -> None:
    """Make the implementation log through the backend ``mode`` names, silently.

    ``logwood``: configure logwood (if installed) before anything creates a logger; the
    original's ``Hub()`` raises ``AssertionError`` without it, and ours switches to logwood once
    it is configured. ``stdlib``: hide logwood, so that both use the standard ``logging`` module,
    whose root logger drops debug records unformatted. Either way nothing is printed: no
    workload logs above debug.
    """
    if mode == "stdlib":
        sys.modules["logwood"] = None  # type: ignore[assignment]  # makes `import logwood` fail
        return
    try:
        import logwood
    except ImportError:
        return
    logwood.basic_config(level=_SILENT)


def _import_library(expected_dir: Path) -> Any:
    """Import ``aiopubsub`` and check that it is the one under ``expected_dir``.

    :raises RuntimeError: if another ``aiopubsub`` (say, an installed one) was found first.
    """
    lib = importlib.import_module("aiopubsub")
    found = Path(lib.__file__ or "").resolve()
    if not found.is_relative_to(expected_dir.resolve()):
        raise RuntimeError(
            f"imported aiopubsub from {str(found)!r}, expected under {str(expected_dir)!r}"
        )
    return lib


def _version(lib: Any) -> str:
    """The version of ``lib``: its ``__version__``, else the metadata found beside it.

    The original has no ``__version__``; its ``.dist-info`` lies in the folder it was imported
    from, which ``PYTHONPATH`` puts first, so the metadata read is that of the imported copy.
    """
    version = getattr(lib, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version("aiopubsub")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def _protocol_stream() -> IO[str]:
    """Keep the real stdout for the protocol and send everything else written to it to stderr."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return stream


def _send(stream: IO[str], payload: dict[str, Any]) -> None:
    """Write one protocol line."""
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


async def _bounded(lib: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run the requested workload once, within the request's time limit."""
    workload = by_name(request["workload"])
    async with asyncio.timeout(float(request.get("timeout", _DEFAULT_TIMEOUT))):
        sample = await workload.run(lib, int(request["size"]), int(request.get("batches", 1)))
    # The package the running loop's class comes from: "asyncio" or "uvloop".
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    answer = {"ok": True, "batches": sample.batches, "retained_bytes": sample.retained_bytes}
    return {**answer, "loop": loop}


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _loop_factory(loop: str) -> tuple[LoopFactory | None, str | None]:
    """The factory of the event loop called ``loop`` and that loop's version.

    ``asyncio``: the default loop (``None``: ``asyncio.Runner`` makes one). ``uvloop``: its
    ``new_event_loop``, given to ``asyncio.Runner`` directly, so no event-loop policy is set.

    :raises ImportError: if uvloop is asked for and not installed.
    """
    if loop == "asyncio":
        return None, None
    import uvloop

    return uvloop.new_event_loop, importlib.metadata.version("uvloop")


def _serve(lib: Any, request: dict[str, Any], loop_factory: LoopFactory | None) -> dict[str, Any]:
    """Answer one request in a fresh event loop; a failure becomes an answer with its traceback.

    A fresh loop per request means no repetition inherits tasks, callbacks or free lists from
    the one before it; creating the loop is not timed.
    """
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_bounded(lib, request))
    except Exception:  # noqa: BLE001 - sent back whole, with its traceback, to run.py
        return {"ok": False, "error": traceback.format_exc()}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the worker's command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--impl", required=True, help="name of the implementation, for the greeting"
    )
    library = parser.add_mutually_exclusive_group(required=True)
    library.add_argument(
        "--expect-dir", type=Path, help="directory the imported aiopubsub must be in"
    )
    library.add_argument("--no-library", action="store_true", help="import no aiopubsub (floors)")
    parser.add_argument("--logging", choices=("logwood", "stdlib"), default="logwood")
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop to run in"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Greet, then serve requests until told to quit or stdin closes."""
    args = _parse(argv)
    stream = _protocol_stream()
    _configure_logging(args.logging)
    lib: Any = None
    greeting: dict[str, Any] = {"impl": args.impl, "version": None, "file": None}
    greeting.update(loop=args.loop, loop_version=None)
    try:
        loop_factory, greeting["loop_version"] = _loop_factory(args.loop)
    except ImportError:
        _send(stream, {**greeting, "error": traceback.format_exc()})
        return 1
    if not args.no_library:
        try:
            lib = _import_library(args.expect_dir)
        except Exception:  # noqa: BLE001 - reported to run.py in the greeting
            _send(stream, {**greeting, "error": traceback.format_exc()})
            return 1
        greeting.update(version=_version(lib), file=lib.__file__)
    _send(stream, greeting)
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        if request.get("quit"):
            break
        _send(stream, _serve(lib, request, loop_factory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
