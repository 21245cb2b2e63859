"""Every script in examples/ runs cleanly: exit code 0, something on stdout, nothing alarming
on stderr.

Each example runs in a fresh interpreter with ``-W error``, so that any warning fails it: a
coroutine never awaited, a subscriber dropped without ``close()``, an unclosed resource.
``PYTHONPATH`` puts this checkout first, so the examples run against the library in this tree
whether or not it is installed.

What may be on stderr: aiopubsub's own log lines. An example that does not configure logging
gets Python's last-resort handler, which prints WARNING and above to stderr, message only;
``slow_consumer.py`` shows its overflow warning that way. What may not: a traceback (an
uncaught error, or an ERROR log with its ``exc_info``), a warning of any category, an
exception the interpreter could only report as "ignored", or asyncio's complaints about tasks
left pending or failing unseen. Those are matched below.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, run_python

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

#: Generous, for a loaded CI machine; each example finishes in well under a second.
TIMEOUT_SECONDS = 60

#: Signs on stderr of a problem rather than a log line.
TROUBLE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|\w*Warning\b"
    r"|Exception ignored"
    r"|Task was destroyed but it is pending"
    r"|exception was never retrieved"
    r"|was never awaited"
)


def run_example(path: Path) -> subprocess.CompletedProcess[str]:
    return run_python("-W", "error", str(path), timeout=TIMEOUT_SECONDS)


def test_examples_are_found() -> None:
    # An empty glob would parametrize nothing and pass silently.
    names = {path.name for path in EXAMPLES}
    assert {
        "quickstart.py",
        "trades.py",
        "listeners.py",
        "meta_events.py",
        "slow_consumer.py",
        "redis_price_feed.py",
        "last_value.py",
    } <= names


@pytest.mark.parametrize(
    "text",
    [
        "Traceback (most recent call last):",
        "ResourceWarning: unclosed",
        "RuntimeWarning: coroutine 'f' was never awaited",
        "Exception ignored in: <function Subscriber.__del__>",
        "Task was destroyed but it is pending!",
        "Task exception was never retrieved",
    ],
)
def test_trouble_pattern_catches(text: str) -> None:
    assert TROUBLE.search(text)


def test_trouble_pattern_lets_log_lines_through() -> None:
    line = "Subscription 'default' of subscriber 'slow' is full (maxsize 50): dropping messages"
    assert not TROUBLE.search(line)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_cleanly(path: Path) -> None:
    done = run_example(path)
    assert done.returncode == 0, done.stderr
    assert not TROUBLE.search(done.stderr), done.stderr
    assert done.stdout.strip(), "an example should print what it shows"
