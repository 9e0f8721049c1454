"""node/service/pubsub.Hub's delivery rounds: each subscriber gets a round's frames in log order
in one push_many, a message's frame is one shared Message, and an invalidation goes out after
the messages applied before it."""

from __future__ import annotations

import asyncio

from raftcache.node.service.pubsub import Hub, Message


class Recorder:
    def __init__(self, hub: Hub, log: list, name: str):
        self.calls: list[list] = []
        self.subs = hub.subscriptions(lambda frame: self.calls.append([frame]), self.push_many)
        self.log, self.name = log, name

    def push_many(self, frames: list) -> None:
        self.calls.append(list(frames))
        self.log.append((self.name, len(frames)))


def _message(channel: bytes, message: bytes, sharded: bool = False) -> tuple:
    return ("message", channel, message, sharded)


def test_a_round_is_one_push_per_subscriber_in_log_order_with_shared_frames():
    hub, log = Hub(), []
    a, b = Recorder(hub, log, "a"), Recorder(hub, log, "b")
    hub.subscribe(a.subs, b"news")
    hub.psubscribe(b.subs, b"n*")
    hub.ssubscribe(b.subs, b"shard")
    hub.deliver([_message(b"news", b"1"), _message(b"nope", b"2"), _message(b"shard", b"3", True),
                 _message(b"other", b"x"), _message(b"news", b"4")])
    assert a.calls == [[[b"message", b"news", b"1"], [b"message", b"news", b"4"]]]
    assert b.calls == [[[b"pmessage", b"n*", b"news", b"1"], [b"pmessage", b"n*", b"nope", b"2"],
                        [b"smessage", b"shard", b"3"], [b"pmessage", b"n*", b"news", b"4"]]]
    assert all(type(frame) is Message for frame in a.calls[0] + b.calls[0])
    assert hub.delivered == 6
    c = Recorder(hub, log, "c")
    hub.subscribe(c.subs, b"news")
    hub.deliver([_message(b"news", b"5")])
    assert a.calls[-1][0] is c.calls[-1][0], "one frame object for every subscriber of the channel"


def test_an_invalidation_goes_out_after_the_messages_applied_before_it():
    hub, order = Hub(), []
    a = Recorder(hub, order, "a")
    hub.subscribe(a.subs, b"news")
    hub.on_invalidate = lambda index, keys: order.append(("invalidate", index))
    hub.deliver([_message(b"news", b"1"), ("invalidate", 7, [b"k"]), _message(b"news", b"2")])
    assert order == [("a", 1), ("invalidate", 7), ("a", 1)]


def test_what_the_raft_thread_hands_over_before_the_loop_runs_is_one_round():
    hub, log = Hub(), []
    a = Recorder(hub, log, "a")

    async def go():
        hub.attach(asyncio.get_running_loop())
        hub.deliver_threadsafe([_message(b"x", b"dropped: nobody is subscribed")])
        hub.subscribe(a.subs, b"news")
        hub.deliver_threadsafe([_message(b"news", b"1")])
        hub.deliver_threadsafe([_message(b"news", b"2"), _message(b"news", b"3")])
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(go())
    assert a.calls == [[[b"message", b"news", m] for m in (b"1", b"2", b"3")]]
