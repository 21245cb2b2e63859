"""Bridges that join hubs across processes and machines through a broker, one module each.

Importing this package imports no broker client: ``aiopubsub.bridges.redis`` needs
``pip install 'aiopubsub[redis]'`` and says so if it is missing.
"""

from __future__ import annotations

__all__: list[str] = []
