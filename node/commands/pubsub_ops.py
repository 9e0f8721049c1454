"""The PUBLISH command at apply: a message handed to every node's subscribers, in log order.

A publish changes no key: it is logged so that every node delivers it (each
node's subscribers, node/service/pubsub.py) and none loses it to a leader
change after it was acknowledged. Its result is 0: how many clients received
the message is counted by the node that answers, over its own subscribers.
"""

from __future__ import annotations

from raftcache.proto import commands_pb2 as pb


def publish(ctx, op: pb.Publish) -> int:
    if ctx.events is not None:
        ctx.events.append(("message", op.channel, op.message, op.sharded))
    return 0


def publish_batch(ctx, op: pb.PublishBatch) -> int:
    for message in op.messages:
        publish(ctx, message)
    return len(op.messages)


HANDLERS = {"publish": publish, "publish_batch": publish_batch}
