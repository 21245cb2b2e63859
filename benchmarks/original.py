"""Fetch the original aiopubsub from PyPI into a cached folder of its own, once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ORIGINAL_VERSION", "cache_dir", "cache_root", "ensure_original", "is_installed"]

ORIGINAL_VERSION = "3.0.0"


def cache_root() -> Path:
    """The benchmark's cache folder: ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/aiopubsub-bench``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aiopubsub-bench"


def cache_dir(version: str = ORIGINAL_VERSION) -> Path:
    """Where the original is kept: ``orig-<version>`` in :func:`cache_root`."""
    return cache_root() / f"orig-{version}"


def is_installed(folder: Path, version: str = ORIGINAL_VERSION) -> bool:
    """Does ``folder`` hold ``aiopubsub==version``: its package and that version's metadata?"""
    return (folder / "aiopubsub" / "__init__.py").is_file() and (
        folder / f"aiopubsub-{version}.dist-info"
    ).is_dir()


def ensure_original(version: str = ORIGINAL_VERSION, folder: Path | None = None) -> Path:
    """Return a folder that holds ``aiopubsub==version`` alone, installing it there if needed.

    The folder is meant for ``PYTHONPATH`` and nothing else: ``pip install --target`` puts the
    package there and never into the running environment, so it cannot shadow the working
    tree's ``aiopubsub``. ``--no-deps``: the original's only dependency is the optional
    ``logwood``, which the benchmark takes from the running environment when it is installed.
    The install goes to a scratch folder first and is renamed into place when complete, so an
    interrupted run never leaves a half-installed cache behind.

    :param folder: where to look and install; by default :func:`cache_dir`.
    :raises subprocess.CalledProcessError: if pip fails (offline, say).
    """
    target = folder or cache_dir(version)
    if is_installed(target, version):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"installing aiopubsub=={version} into {target} ...", file=sys.stderr, flush=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(scratch),
        f"aiopubsub=={version}",
    ]
    try:
        subprocess.run(command, check=True, stdout=sys.stderr)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
