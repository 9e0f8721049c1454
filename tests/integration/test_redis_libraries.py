"""Libraries built on Redis's Lua scripts and transactions, run unmodified against the
cluster, producers on one node and consumers on another: BullMQ's Python queue (its
dozens of Lua scripts, blocking pops, delayed and retried jobs), `limits`' rate limiters
(moving window, fixed window and sliding window counter, each a Lua script), RQ (its
pipelines with WATCH, job dependencies, retries, a worker through a follower), Dramatiq
(every queue operation one Lua script, delayed retries, a result backend) and Huey
(blocking dequeues, task locks, retries, stored results)."""

from __future__ import annotations

import asyncio
import time

import dramatiq
import pytest
from bullmq import Job, Queue, Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend
from huey import RedisHuey
from huey.exceptions import TaskException
from limits import parse, storage, strategies
from rq import Queue as RQQueue, Retry, SimpleWorker
from rq.job import JobStatus
from rq.registry import FailedJobRegistry

from tests.integration.redis_helpers import client, leader_and_follower, same_on_every_node, url

DEADLINE_S = 30.0


def _other_follower(cluster, leader, follower):
    return next(n for n in cluster.alive_nodes() if n is not leader and n is not follower)


# ------------------------------------------------------------------------------ BullMQ

def test_bullmq_jobs_added_on_the_leader_are_processed_by_a_worker_on_a_follower(cluster):
    leader, follower = leader_and_follower(cluster)

    async def process(job, token):
        if job.data["n"] == 3:
            raise ValueError(f"job 3 failed on attempt {job.attemptsMade + 1}")
        return job.data["n"] * 10

    async def scenario():
        queue = Queue("emails", {"connection": url(leader)})
        try:
            plain = [await queue.add("send", {"n": n}) for n in range(6)]
            delayed = await queue.add("later", {"n": 7}, {"delay": 300})
            prioritized = await queue.add("urgent", {"n": 8}, {"priority": 2})
            worker = Worker("emails", process, {"connection": url(follower)})
            try:
                deadline = time.monotonic() + DEADLINE_S
                while True:
                    counts = await queue.getJobCounts("completed", "failed", "waiting", "active", "delayed",
                                                      "prioritized")
                    if counts["completed"] + counts["failed"] == 8 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await worker.close()
            jobs = {}
            for job in plain + [delayed, prioritized]:
                stored = await Job.fromId(queue, job.id)
                jobs[job.data["n"]] = (await stored.getState(), stored.returnvalue, stored.failedReason,
                                       stored.attemptsMade, stored.timestamp, stored.processedOn)
            return counts, jobs
        finally:
            await queue.obliterate(force=True)
            await queue.close()

    counts, jobs = asyncio.run(scenario())
    assert counts == {"completed": 7, "failed": 1, "waiting": 0, "active": 0, "delayed": 0, "prioritized": 0}
    for n in (0, 1, 2, 4, 5, 7, 8):
        assert jobs[n][:3] == ("completed", n * 10, None), (n, jobs[n])
    state, _, reason, attempts, _, _ = jobs[3]
    assert (state, reason, attempts) == ("failed", "job 3 failed on attempt 1", 1)
    _, _, _, _, added_ms, processed_ms = jobs[7]
    assert processed_ms - added_ms >= 300   # the delayed job waited for its delay


def test_bullmq_retries_a_failed_job_with_backoff_through_followers(cluster):
    leader, follower = leader_and_follower(cluster)
    other = _other_follower(cluster, leader, follower)
    attempts_seen: list[int] = []

    async def flaky(job, token):
        attempts_seen.append(job.attemptsMade)
        if job.attemptsMade < 2:
            raise RuntimeError("not yet")
        return "done"

    async def scenario():
        queue = Queue("retries", {"connection": url(other)})
        try:
            job = await queue.add("flaky", {}, {"attempts": 3, "backoff": {"type": "fixed", "delay": 100}})
            worker = Worker("retries", flaky, {"connection": url(follower)})
            try:
                deadline = time.monotonic() + DEADLINE_S
                while await job.getState() != "completed" and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                await worker.close()
            job = await Job.fromId(queue, job.id)   # as it is now (the state may have been read after it was fetched)
            return await job.getState(), job.returnvalue, job.attemptsMade
        finally:
            await queue.obliterate(force=True)
            await queue.close()

    assert asyncio.run(scenario()) == ("completed", "done", 3)
    assert attempts_seen == [0, 1, 2]


# ------------------------------------------------------------------------------ limits

@pytest.mark.parametrize("strategy", [strategies.MovingWindowRateLimiter, strategies.FixedWindowRateLimiter,
                                      strategies.SlidingWindowCounterRateLimiter],
                         ids=["moving-window", "fixed-window", "sliding-window-counter"])
def test_limits_rate_limiters_share_one_budget_across_nodes(cluster, strategy):
    leader, follower = leader_and_follower(cluster)
    other = _other_follower(cluster, leader, follower)
    limiters = [strategy(storage.RedisStorage(url(node))) for node in (follower, leader, other)]
    item = parse("5/minute")
    hits = [limiters[i % 3].hit(item, "api", "user-1") for i in range(7)]
    assert hits == [True] * 5 + [False] * 2
    assert all(limiter.test(item, "api", "user-2") for limiter in limiters)   # another user: its own budget
    for limiter in limiters:
        assert limiter.get_window_stats(item, "api", "user-1").remaining == 0
    limiters[0].clear(item, "api", "user-1")
    assert limiters[2].hit(item, "api", "user-1")


# ------------------------------------------------------------------------------ RQ

def add(a, b):
    return a + b


def fail_always():
    raise RuntimeError("this job always fails")


def test_rq_jobs_enqueued_on_the_leader_run_on_a_worker_through_a_follower(cluster):
    leader, follower = leader_and_follower(cluster)
    producer = RQQueue("default", connection=client(leader, 2))
    sums = [producer.enqueue(add, n, 1) for n in range(5)]
    failing = producer.enqueue(fail_always, retry=Retry(max=1))
    dependent = producer.enqueue(add, 100, 1, depends_on=sums[0])
    assert dependent.get_status() == JobStatus.DEFERRED

    follower_connection = client(follower, 2)
    worker_queue = RQQueue("default", connection=follower_connection)
    SimpleWorker([worker_queue], connection=follower_connection).work(burst=True, max_jobs=20)

    for n, job in enumerate(sums):
        job.refresh()
        assert (job.get_status(), job.return_value()) == (JobStatus.FINISHED, n + 1)
    dependent.refresh()
    assert (dependent.get_status(), dependent.return_value()) == (JobStatus.FINISHED, 101)
    failing.refresh()
    assert failing.get_status() == JobStatus.FAILED
    assert failing.retries_left == 0
    assert "this job always fails" in failing.latest_result().exc_string
    assert FailedJobRegistry(queue=producer).get_job_ids() == [failing.id]
    assert same_on_every_node(cluster, 2, lambda r: r.llen("rq:queue:default")) == 0


# ------------------------------------------------------------------------------ Dramatiq

def _dramatiq_broker(node) -> tuple[RedisBroker, RedisBackend]:
    backend = RedisBackend(url=url(node))
    broker = RedisBroker(url=url(node))
    broker.add_middleware(Results(backend=backend))
    return broker, backend


def test_dramatiq_messages_sent_on_the_leader_are_processed_and_retried_through_a_follower(cluster):
    leader, follower = leader_and_follower(cluster)
    producer, backend = _dramatiq_broker(leader)
    consumer, _ = _dramatiq_broker(follower)
    failures: list[int] = []

    def scale(n):
        if n == 3 and not failures:
            failures.append(n)
            raise ValueError("the first attempt of 3 fails")
        return n * 10

    # retried after 20-40 ms: the retry goes through the follower's delay queue (dispatch.lua)
    actor = dramatiq.actor(scale, broker=producer, store_results=True, max_retries=2, min_backoff=20,
                           max_backoff=40)
    consumer.declare_actor(actor)
    messages = [actor.send(n) for n in range(5)]
    delayed = actor.send_with_options(args=(7,), delay=200)
    queued = same_on_every_node(cluster, 2, lambda r: (r.llen("dramatiq:default"), r.hlen("dramatiq:default.msgs"),
                                                        r.hlen("dramatiq:default.DQ.msgs")))
    assert queued == (5, 5, 1)
    worker = dramatiq.Worker(consumer, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        results = [message.get_result(backend=backend, block=True, timeout=int(DEADLINE_S * 1000))
                   for message in messages + [delayed]]
    finally:
        worker.stop()
        producer.close()
        consumer.close()
    assert results == [0, 10, 20, 30, 40, 70]
    assert failures == [3]
    assert same_on_every_node(cluster, 2, lambda r: (r.llen("dramatiq:default"), r.hlen("dramatiq:default.msgs"))) \
        == (0, 0)


# ------------------------------------------------------------------------------ Huey

def test_huey_tasks_enqueued_on_a_follower_run_through_another_node_with_locks_and_retries(cluster):
    leader, follower = leader_and_follower(cluster)
    other = _other_follower(cluster, leader, follower)
    producer = RedisHuey("jobs", url=url(follower), blocking=True)
    consumer = RedisHuey("jobs", url=url(other), blocking=True, read_timeout=0.2)
    attempts: list[int] = []

    @producer.task(retries=1, retry_delay=0)
    def multiply(a, b):
        if a == 2:
            attempts.append(a)
            if len(attempts) == 1:
                raise ValueError("the first attempt of 2 fails")
        return a * b

    @producer.task()
    def exclusive():
        with consumer.lock_task("report"):
            return "ran"

    consumer._registry = producer._registry   # the same tasks, as a consumer process imports them

    def run_queued():
        """What a consumer process does: take tasks through `other` (a blocking pop) until none
        comes within the read timeout."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            task = consumer.dequeue()
            if task is None:
                return
            consumer.execute(task)
        raise AssertionError("the queue did not drain")

    results = [multiply(n, 3) for n in range(4)]
    locked = exclusive()
    assert same_on_every_node(cluster, 2, lambda r: r.llen("huey.redis.jobs")) == 5
    with consumer.lock_task("report"):   # held through another node: the task finds it taken
        run_queued()
    assert [result.get() for result in results] == [0, 3, 6, 9]
    assert attempts == [2, 2]   # 2 * 3 failed once, then ran again
    with pytest.raises(TaskException) as failed:
        locked.get()
    assert failed.value.metadata["error"].startswith("TaskLockedException")
    again = exclusive()   # the lock is free now
    run_queued()
    assert again.get() == "ran"
    assert len(consumer) == 0
    assert same_on_every_node(cluster, 2, lambda r: r.llen("huey.redis.jobs")) == 0
