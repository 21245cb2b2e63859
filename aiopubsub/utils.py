"""ThrottledPublisher: a publisher that waits for its subscribers' queues to drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from ._hub import Hub
from ._key import Key, PossibleKey
from ._publisher import Publisher

__all__ = ["ThrottledPublisher"]


class ThrottledPublisher:
    """Publishes, then waits until every queue it publishes to holds at most ``max_qsize``.

    Between checks it sleeps the delays of a fresh ``delay_sequence_factory()``; when that
    sequence runs out it keeps sleeping its last delay.

    :param hub: the hub the publisher publishes to.
    :param publisher: the publisher to publish with.
    :param max_qsize: the queue length to wait for.
    :param delay_sequence_factory: returns the delays (seconds) to sleep between checks.
    """

    def __init__(
        self,
        hub: Hub,
        publisher: Publisher,
        max_qsize: int,
        delay_sequence_factory: Callable[[], Iterable[float]],
    ) -> None:
        if max_qsize < 0:
            raise ValueError(f"max_qsize must be >= 0, got {max_qsize!r}")
        self._hub = hub
        self._publisher = publisher
        self._max_qsize = max_qsize
        self._delay_sequence_factory = delay_sequence_factory
        self._published_keys: dict[Key, None] = {}

    async def publish(self, key: PossibleKey, message: Any) -> None:
        """Publish ``message`` under the publisher's ``prefix + key``, then wait for room.

        :raises ValueError: if the delay sequence is empty when a wait is needed.
        """
        full_key = self._publisher.prefix + key
        self._publisher.publish(key, message)
        self._published_keys[full_key] = None
        delays = iter(self._delay_sequence_factory())
        delay: float | None = None
        for published_key in self._published_keys:
            while self._too_full(published_key):
                delay = next(delays, delay)
                if delay is None:
                    raise ValueError("delay_sequence_factory() gave no delay to wait with")
                await asyncio.sleep(delay)

    def _too_full(self, key: Key) -> bool:
        sizes = self._hub.get_subscriber_queue_sizes(key)
        return bool(sizes) and max(sizes) > self._max_qsize
