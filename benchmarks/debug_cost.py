"""What debug mode costs the cheapest publishes: the same loops with Hub(debug=False / True).

Run: ``python3 benchmarks/debug_cost.py`` (``--quick`` for a smoke test). Prints the best of
5 timings per operation for a publish that reaches nobody (1,000 other subscriptions) and for
a publish then ``consume_nowait()`` of one queue, with and without debug mode, interleaved.
"""

from __future__ import annotations

import asyncio
import sys
import timeit

from aiopubsub import Hub, Key, Subscriber

N = 2_000 if "--quick" in sys.argv[1:] else 200_000


def _measure(debug: bool) -> tuple[float, float]:
    hub = Hub(debug=debug)
    subscriber = Subscriber(hub, "s")
    for i in range(1_000):
        hub.add_subscriber(("other", str(i)), print)
    subscriber.subscribe("a")
    nobody, queued = Key("b"), Key("a")

    def publish_and_consume() -> None:
        hub.publish(queued, 1)
        subscriber.consume_nowait()

    alone = min(timeit.repeat(lambda: hub.publish(nobody, 1), number=N, repeat=5)) / N
    both = min(timeit.repeat(publish_and_consume, number=N, repeat=5)) / N
    subscriber.close()
    return alone, both


async def main() -> None:
    best: dict[bool, list[float]] = {False: [1.0, 1.0], True: [1.0, 1.0]}
    for _ in range(2):  # interleaved, best kept
        for debug in (False, True):
            for i, value in enumerate(_measure(debug)):
                best[debug][i] = min(best[debug][i], value)
    for i, name in enumerate(("publish reaching nobody", "publish + consume_nowait()")):
        off, on = best[False][i] * 1e9, best[True][i] * 1e9
        print(f"{name:28} {off:6.0f} ns without debug, {on:6.0f} ns with ({on / off:.1f}x)")


if __name__ == "__main__":
    asyncio.run(main())
