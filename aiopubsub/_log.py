"""Logging that goes through logwood once the application has configured it, else ``logging``."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["get_logger"]


class _Logger:
    """A logger named ``aiopubsub.<name>`` that picks its backend at each call.

    logwood refuses ``basic_config()`` once any logwood logger exists and asserts when a logger
    is used before ``basic_config()``; so logwood is used only after the application has imported
    and configured it, whenever that happens, and ``logging`` is used until then. aiopubsub never
    imports logwood itself.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _backend(self) -> Any:
        logwood = sys.modules.get("logwood")
        state = getattr(logwood, "state", None)
        if getattr(state, "config_called", False):
            return logwood.get_logger(self.name)  # type: ignore[union-attr]
        return logging.getLogger(self.name)

    def debug(self, msg: str, *args: object) -> None:
        self._backend().debug(msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self._backend().warning(msg, *args)

    def error(self, msg: str, *args: object, exc_info: BaseException | None = None) -> None:
        backend = self._backend()
        if exc_info is None:
            backend.error(msg, *args)
        elif isinstance(backend, logging.Logger):
            backend.error(msg, *args, exc_info=exc_info)
        else:
            # logwood's Logger.error takes no exc_info; it logs the exception being handled.
            backend.exception(msg, *args)


#: One logger per name, made once: every Hub and Subscriber asks for one.
_LOGGERS: dict[str, _Logger] = {}


def get_logger(name: str) -> _Logger:
    """Return the logger ``aiopubsub.<name>``."""
    logger = _LOGGERS.get(name)
    if logger is None:
        logger = _LOGGERS[name] = _Logger(f"aiopubsub.{name}")
    return logger
