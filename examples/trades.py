"""Exchanges publish trades under their own prefix; subscribers pick them up by wildcard.

Shows Publisher prefixes (``Key('binance')``, ``Key('kraken')``), one pattern
``('*', 'trade', '*')`` served by a sync listener (called inside ``publish()``) and an async
listener (awaited in the background, in publish order), and a queue subscription to one exchange
read with ``consume()``. Leaving ``async with Hub()`` closes the hub, which lets the async
listener finish what is queued for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from decimal import Decimal

import aiopubsub
from aiopubsub import Key

#: Every trade on every exchange, symbol in the third key part: ('<exchange>', 'trade', '<symbol>').
ALL_TRADES = Key("*", "trade", "*")


@dataclasses.dataclass(frozen=True)
class Trade:
    """One executed trade."""

    symbol: str
    quantity: Decimal
    price: Decimal


FEEDS: dict[str, list[Trade]] = {
    "binance": [
        Trade("BTC-USD", Decimal("0.5"), Decimal("64010.50")),
        Trade("ETH-USD", Decimal("3"), Decimal("3120.25")),
    ],
    "kraken": [
        Trade("BTC-USD", Decimal("0.2"), Decimal("64008.00")),
        Trade("ETH-USD", Decimal("1.5"), Decimal("3121.00")),
        Trade("BTC-USD", Decimal("0.1"), Decimal("64012.75")),
    ],
}


class Turnover:
    """A sync listener: adds up the traded value per exchange, inline in ``publish()``."""

    def __init__(self) -> None:
        self.by_exchange: defaultdict[str, Decimal] = defaultdict(Decimal)

    def __call__(self, key: Key, trade: Trade) -> None:
        exchange = key[0]
        self.by_exchange[exchange] += trade.quantity * trade.price


class Ledger:
    """An async listener: writes each trade down, as if to a database, one at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, key: Key, trade: Trade) -> None:
        await asyncio.sleep(0)  # Stands for real I/O; messages wait in the listener's queue.
        exchange, _, symbol = key
        self.lines.append(f"{exchange:>8} {symbol} {trade.quantity} @ {trade.price}")


async def main() -> None:
    turnover = Turnover()
    ledger = Ledger()
    async with aiopubsub.Hub() as hub:
        exchanges = {name: aiopubsub.Publisher(hub, prefix=Key(name)) for name in FEEDS}

        risk = aiopubsub.Subscriber(hub, "risk")
        risk.add_sync_listener(ALL_TRADES, turnover)
        risk.add_async_listener(ALL_TRADES, ledger)

        kraken_desk = aiopubsub.Subscriber(hub, "kraken-desk")
        kraken_desk.subscribe(Key("kraken", "trade", "*"))

        # An order book update would reach nobody: a publisher can ask before building one.
        binance = exchanges["binance"]
        print("anyone for binance order books?", binance.has_subscribers(Key("orderbook", "*")))
        print("anyone for binance trades?     ", binance.has_subscribers(Key("trade", "*")))

        for name, trades in FEEDS.items():
            for trade in trades:
                exchanges[name].publish(Key("trade", trade.symbol), trade)
        # The sync listener has run already; the async one has not had its turn yet.
        print(
            f"published: turnover covers {len(turnover.by_exchange)} exchanges,"
            f" the ledger has {len(ledger.lines)} lines"
        )

        print("kraken desk (queue subscription):")
        for _ in FEEDS["kraken"]:
            key, trade = await kraken_desk.consume()
            print(f"    {key!r}: {trade.quantity} @ {trade.price}")
    # Closing the hub let the async listener write down everything queued for it.

    print("ledger (async listener, publish order):")
    for line in ledger.lines:
        print("   ", line)
    print("turnover (sync listener):")
    for exchange, value in turnover.by_exchange.items():
        print(f"    {exchange:>8} {value:.2f} USD")


if __name__ == "__main__":
    asyncio.run(main())
