"""The README's quick start, verbatim: publish under a prefixed key, consume through a wildcard.

It runs with logwood configured and ends with ``remove_all_listeners()`` not awaited, which
removes the listeners at once and warns about nothing.
"""

import asyncio, aiopubsub, logwood
async def main():
    logwood.basic_config()
    hub = aiopubsub.Hub()
    publisher = aiopubsub.Publisher(hub, prefix = aiopubsub.Key('a'))
    subscriber = aiopubsub.Subscriber(hub, 'subscriber_id')
    sub_key = aiopubsub.Key('a', 'b', '*')
    subscriber.subscribe(sub_key)
    pub_key = aiopubsub.Key('b', 'c')
    publisher.publish(pub_key, 'Hello subscriber')
    await asyncio.sleep(0.001)
    key, message = await subscriber.consume()
    assert key == aiopubsub.Key('a', 'b', 'c')
    assert message == 'Hello subscriber'
    subscriber.remove_all_listeners()      # no await in the seed: must still work, no warning
asyncio.run(main())
print("quickstart worked: 'Hello subscriber' arrived under Key('a', 'b', 'c')")
