"""The queue behind each queue subscription: a deque, its bound, who waits on it, its counts."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from typing import Any

from ._errors import PubSubError
from ._key import Key
from ._records import SubscriptionStatistics

__all__ = ["Inbox", "Overflow", "check_bound"]


class Overflow(enum.StrEnum):
    """What a bounded queue does with a message that arrives when it is full.

    Whatever the policy, a full queue never raises into :meth:`Hub.publish` and never holds up
    the delivery to other subscriptions; every message it loses is counted in
    :meth:`Subscriber.statistics`. The members are strings (``'drop_oldest'``, ...), so they
    survive JSON.
    """

    #: Make room by dropping the oldest queued message: the queue keeps the newest ``maxsize``.
    DROP_OLDEST = "drop_oldest"
    #: Drop the incoming message: the queue keeps the oldest ``maxsize``.
    DROP_NEWEST = "drop_newest"
    #: Cut the subscription off from the hub and drop the incoming message; ``consume()``
    #: returns what was queued, then raises :class:`SlowConsumerError`.
    DISCONNECT = "disconnect"


def check_bound(maxsize: object, overflow: object) -> tuple[int, Overflow]:
    """Return ``(maxsize, overflow)`` if they describe a queue bound.

    ``overflow`` may also be the value of a member (``'drop_newest'``), as read from JSON.

    :raises TypeError: if ``maxsize`` is not an ``int``, or ``overflow`` neither an
        :class:`Overflow` nor a ``str``.
    :raises ValueError: if ``maxsize`` is negative, or ``overflow`` a ``str`` that is no
        member's value.
    """
    if not isinstance(maxsize, int) or isinstance(maxsize, bool):
        raise TypeError(f"maxsize must be an int (0: unbounded), got {maxsize!r}")
    if maxsize < 0:
        raise ValueError(f"maxsize must be >= 0 (0: unbounded), got {maxsize!r}")
    if isinstance(overflow, Overflow):
        return maxsize, overflow
    choices = ", ".join(f"Overflow.{member.name} ({member.value!r})" for member in Overflow)
    if isinstance(overflow, str):
        try:
            return maxsize, Overflow(overflow)
        except ValueError:
            raise ValueError(f"overflow must be one of {choices}; got {overflow!r}") from None
    raise TypeError(f"overflow must be one of {choices}; got {overflow!r}")


#: Called by a bounded inbox on every drop: ``hook(inbox, first_of_episode, disconnect)``.
OverflowHook = Callable[["Inbox", bool, bool], None]


class Inbox:
    """A FIFO of ``(key, message)`` pairs, filled synchronously by the hub.

    Leaner than :class:`asyncio.Queue`: the hub only ever puts without waiting, and nothing
    needs ``join()``. The hub calls :meth:`put` only from its own thread (it checks that before
    delivering anything), so a put may wake a consumer directly. Decisions:

    * A consumer cancelled while waiting loses nothing: a message stays in the deque until a
      :meth:`get` returns it, and a wake-up meant for a cancelled consumer passes to the next.
    * With ``maxsize > 0`` the deque never holds more than ``maxsize`` messages; ``overflow``
      says which message is lost. An *overflow episode* starts with a drop and ends when the
      queue has been emptied; the hook hears of every drop, and whether it is the first of
      its episode.
    * Once closed, with the reason a consumer gets after the last queued message, the inbox
      still hands out what it holds; only then does :meth:`get` raise. The hub puts nothing
      into a closed inbox (its subscription is gone first); a bounded one would drop and
      count it.
    """

    __slots__ = (
        "items",
        "maxsize",
        "overflow",
        "delivered",
        "dropped",
        "peak",
        "closed",
        "watched",
        "_reason",
        "_getters",
        "_putters",
        "_episode",
        "_on_overflow",
    )

    def __init__(
        self,
        maxsize: int = 0,
        overflow: Overflow = Overflow.DROP_OLDEST,
        on_overflow: OverflowHook | None = None,
    ) -> None:
        self.items: deque[tuple[Key, Any]] = deque()
        self.maxsize = maxsize
        self.overflow = overflow
        #: Messages accepted into the queue, and messages lost (to overflow, or after closing).
        self.delivered = 0
        self.dropped = 0
        #: The longest the queue has been, once longer than one message (see peak_queued).
        self.peak = 0
        #: Whether :meth:`close` was called (and :meth:`reopen` not since).
        self.closed = False
        #: Whether whoever takes a message must call :meth:`taken`: a publisher waits for
        #: room, or an overflow episode is open. False for ever for an unbounded queue.
        self.watched = False
        #: What :meth:`get` raises once the queue is empty, after :meth:`close`.
        self._reason: tuple[type[PubSubError], str] | None = None
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._episode = False
        self._on_overflow = on_overflow

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        bound = f"/{self.maxsize} {self.overflow.name}" if self.maxsize else ""
        state = " closed" if self.closed else ""
        return f"<Inbox{state} queued={len(self.items)}{bound} waiting={len(self._getters)}>"

    @property
    def put(self) -> Callable[[Key, Any], None]:
        """The hub's callback for this queue: the unbounded fast path or the bounded one."""
        return self._put_bounded if self.maxsize else self._put

    def _put(self, key: Key, message: Any) -> None:
        items = self.items
        # The peak is only tracked past one message: a queue that goes 0 -> 1 -> 0 (a
        # consumer that keeps up) pays nothing for it; see peak_queued.
        if items and len(items) >= self.peak:
            self.peak = len(items) + 1
        items.append((key, message))
        self.delivered += 1
        if self._getters:
            self._wake(self._getters)

    def _put_bounded(self, key: Key, message: Any) -> None:
        items = self.items
        if len(items) < self.maxsize and not self.closed:
            self._put(key, message)
            return
        self.dropped += 1
        disconnect = False
        if not self.closed:
            if self.overflow is Overflow.DROP_OLDEST:
                items.popleft()
                items.append((key, message))
                self.delivered += 1
            elif self.overflow is Overflow.DISCONNECT:
                disconnect = True
        first = not self._episode and not self.closed
        self._episode = self.watched = True
        if self._on_overflow is not None:
            self._on_overflow(self, first, disconnect)

    @property
    def peak_queued(self) -> int:
        """The most messages the queue has held at once."""
        return max(self.peak, len(self.items), 1 if self.delivered else 0)

    def statistics(self) -> SubscriptionStatistics:
        """A snapshot of the queue: its length, bound and counts."""
        return SubscriptionStatistics(
            queued=len(self.items),
            peak_queued=self.peak_queued,
            maxsize=self.maxsize,
            overflow=self.overflow,
            delivered=self.delivered,
            dropped=self.dropped,
            closed=self.closed,
        )

    @staticmethod
    def _wake(waiters: deque[asyncio.Future[None]]) -> None:
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    @staticmethod
    def _wake_all(waiters: deque[asyncio.Future[None]]) -> None:
        while waiters:
            Inbox._wake(waiters)

    def taken(self) -> None:
        """Bookkeeping after a message was taken from a :attr:`watched` queue: end an overflow
        episode, wake a publisher waiting for room."""
        if not self.items:
            self._episode = False
        if self._putters:
            self._wake(self._putters)
        self.watched = self._episode or bool(self._putters)

    def close(self, error: type[PubSubError], reason: str) -> None:
        """Let consumers take what is queued, then raise ``error(reason)``; wake every waiter.

        Idempotent: the first reason stays.
        """
        if self.closed:
            return
        self.closed = True
        self._reason = (error, reason)
        self._wake_all(self._getters)
        self._wake_all(self._putters)

    def reopen(self) -> None:
        """Accept messages again after :meth:`close` (a disconnected queue subscribed anew)."""
        self.closed = False
        self._reason = None
        self._episode = False
        self.watched = bool(self._putters)

    @property
    def has_room(self) -> bool:
        """Whether a put now would keep every message: unbounded, or below ``maxsize``."""
        return not self.maxsize or len(self.items) < self.maxsize or self.closed

    def _closed_error(self) -> PubSubError:
        assert self._reason is not None
        error, reason = self._reason
        return error(reason)

    def get_nowait(self) -> tuple[Key, Any]:
        """Return the oldest message.

        :raises asyncio.QueueEmpty: if there is none and the inbox is open.
        :raises PubSubError: the closing reason, if it is closed and empty.
        """
        if not self.items:
            if self.closed:
                raise self._closed_error()
            raise asyncio.QueueEmpty
        item = self.items.popleft()
        if self.watched:
            self.taken()
        return item

    async def get(self) -> tuple[Key, Any]:
        """Return the oldest message, waiting for one if there is none.

        :raises PubSubError: the closing reason, once it is closed and empty.
        """
        items = self.items
        while not items:
            if self.closed:
                raise self._closed_error()
            await self._wait(self._getters)
        item = items.popleft()
        if self.watched:
            self.taken()
        return item

    async def wait_for_room(self) -> None:
        """Wait until a message is taken, or :meth:`wake_putters` is called, if there is no
        room now. The caller looks again: room may have been taken meanwhile."""
        if not self.has_room:
            self.watched = True
            await self._wait(self._putters)

    def wake_putters(self) -> None:
        """Wake every publisher waiting for room, to look at the routes again."""
        self._wake_all(self._putters)

    async def _wait(self, waiters: deque[asyncio.Future[None]]) -> None:
        waiter = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            # Cancellation lands here; what we may have been woken for stays where it is.
            await waiter
        except BaseException:
            waiter.cancel()
            if waiter in waiters:
                waiters.remove(waiter)
            elif (self.items if waiters is self._getters else self.has_room) and waiters:
                # We were woken for something we will not take: pass the wake-up on.
                self._wake(waiters)
            raise
