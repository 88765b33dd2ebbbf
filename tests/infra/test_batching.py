"""Combiner: per key one batch at a time, later jobs combined into the next batch (no database)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import Any

from infra.batching import Combiner, Ticket


class Runner:
    """A batch runner that records each batch and holds it until the test opens its gate.

    Batch n (0-based) waits for `open(n)` unless the runner was built with `held=False`.
    Each job's result is `job * 10`; a job that is an exception instance is its own outcome.
    """

    def __init__(self, held: bool = True) -> None:
        self.batches: list[list[object]] = []
        self.held = held
        self.gates: dict[int, asyncio.Event] = {}
        self.running = 0
        self.most_running = 0
        self.fail_with: dict[int, BaseException] = {}

    def _gate(self, n: int) -> asyncio.Event:
        return self.gates.setdefault(n, asyncio.Event())

    def open(self, n: int) -> None:
        """Let batch `n` finish."""
        self._gate(n).set()

    async def started(self, count: int) -> None:
        """Wait until `count` batches have started."""
        async with asyncio.timeout(2):
            while len(self.batches) < count:
                await asyncio.sleep(0)

    async def __call__(self, tickets: list[Ticket[object, object]]) -> None:
        """Record the batch, wait for its gate, then resolve every job (or raise the planned error)."""
        n = len(self.batches)
        self.batches.append([t.job for t in tickets])
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.held:
                await self._gate(n).wait()
            if n in self.fail_with:
                raise self.fail_with[n]
            for ticket in tickets:
                job = ticket.job
                ticket.resolve(job if isinstance(job, BaseException) else job * 10)  # type: ignore[operator]
        finally:
            self.running -= 1


async def settle() -> None:
    """Let every ready task run up to its next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def finish(*tasks: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
    """Gather the tasks' outcomes, failing instead of hanging if a lane stalls."""
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=return_exceptions), 5)


def submit(combiner: Combiner[object, object], key: Hashable, job: object) -> asyncio.Task[object]:
    """Submit `job` from a task of its own, as concurrent requests do."""
    return asyncio.create_task(combiner.submit(key, job))


async def behind_a_running_batch(
    runner: Runner, combiner: Combiner[object, object], *jobs: object
) -> list[asyncio.Task[object]]:
    """Job 0's batch running (held) and `jobs` submitted behind it, under one key: every task."""
    tasks = [submit(combiner, "k", 0)]
    await runner.started(1)
    tasks += [submit(combiner, "k", job) for job in jobs]
    await settle()
    return tasks


async def test_jobs_arriving_during_a_batch_form_the_next_batch():
    """The first job runs alone; the five submitted while it runs are one batch, in arrival order."""
    # given: a batch of one job running (held)
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    first = submit(combiner, "k", 0)
    await runner.started(1)

    # when: five more jobs arrive while it runs, then it finishes
    later = [submit(combiner, "k", n) for n in range(1, 6)]
    await settle()
    assert runner.batches == [[0]]
    runner.open(0)
    await runner.started(2)
    runner.open(1)
    results = await finish(first, *later)

    # then: two batches, [0] and [1..5] in order; every submitter got its own result
    assert runner.batches == [[0], [1, 2, 3, 4, 5]]
    assert results == [0, 10, 20, 30, 40, 50]
    assert combiner._lanes == {}


async def test_three_generations_of_batches_run_one_after_another():
    """Jobs arriving while batch 2 runs wait for batch 3; no two batches of a key overlap."""
    # given: batch 0 running with jobs 1, 2 waiting
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    tasks = await behind_a_running_batch(runner, combiner, 1, 2)

    # when: batch 0 ends, and jobs 3, 4 arrive while batch 1 runs
    runner.open(0)
    await runner.started(2)
    tasks += [submit(combiner, "k", n) for n in (3, 4)]
    await settle()
    runner.open(1)
    await runner.started(3)
    runner.open(2)

    # then: [0], [1, 2], [3, 4], never more than one at a time
    assert await finish(*tasks) == [0, 10, 20, 30, 40]
    assert runner.batches == [[0], [1, 2], [3, 4]]
    assert runner.most_running == 1
    assert combiner._lanes == {}


async def test_results_and_errors_reach_their_own_submitters():
    """In one batch, each submitter gets its job's result or its job's exception, nobody else's."""
    # given: a batch running, then jobs of which two fail on their own
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    first = submit(combiner, "k", 1)
    await runner.started(1)
    bad_a, bad_b = ValueError("a"), KeyError("b")
    jobs: list[object] = [2, bad_a, 3, bad_b, 4]
    later = [submit(combiner, "k", job) for job in jobs]
    await settle()

    # when: both batches finish
    runner.open(0)
    runner.open(1)
    outcomes = await finish(first, *later, return_exceptions=True)

    # then: results where the job succeeded, the very exception object where it failed
    assert runner.batches == [[1], jobs]
    assert outcomes[0] == 10
    assert outcomes[1:] == [20, bad_a, 30, bad_b, 40]
    assert outcomes[2] is bad_a and outcomes[4] is bad_b


async def test_an_error_of_the_runner_reaches_the_whole_batch_and_the_next_batch_runs():
    """A runner that raises fails every job of its batch; jobs queued meanwhile still run."""
    # given: batch 0 running; batch 1 (jobs 1, 2, 3) will raise; jobs 4, 5 queue behind it
    runner = Runner()
    boom = RuntimeError("database gone")
    runner.fail_with[1] = boom
    combiner: Combiner[object, object] = Combiner(runner)
    tasks = await behind_a_running_batch(runner, combiner, 1, 2, 3)
    runner.open(0)
    await runner.started(2)
    tasks += [submit(combiner, "k", n) for n in (4, 5)]
    await settle()

    # when: batch 1 raises and batch 2 is let through
    runner.open(1)
    await runner.started(3)
    runner.open(2)
    outcomes = await finish(*tasks, return_exceptions=True)

    # then: all three jobs of batch 1 got that error; batch 2 ran and succeeded
    assert runner.batches == [[0], [1, 2, 3], [4, 5]]
    assert outcomes[0] == 0
    assert all(o is boom for o in outcomes[1:4])
    assert outcomes[4:] == [40, 50]
    assert combiner._lanes == {}


async def test_a_job_left_without_outcome_gets_an_error_not_a_hang():
    """A runner that forgets a job fails that job with RuntimeError; the others keep their results."""

    # given: a runner that resolves only even jobs
    async def forgetful(tickets: list[Ticket[object, object]]) -> None:
        await asyncio.sleep(0)
        for ticket in tickets:
            if ticket.job % 2 == 0:  # type: ignore[operator]
                ticket.resolve(ticket.job)

    combiner: Combiner[object, object] = Combiner(forgetful)

    # when: four jobs are submitted at once
    outcomes = await finish(*(submit(combiner, "k", n) for n in range(4)), return_exceptions=True)

    # then: even jobs have results, odd ones a RuntimeError
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert isinstance(outcomes[1], RuntimeError) and isinstance(outcomes[3], RuntimeError)
    assert combiner._lanes == {}


async def test_a_waiting_submitter_that_is_cancelled_is_dropped_from_the_next_batch():
    """A submitter cancelled while it waits has its job dropped; the rest run and the lane drains."""
    # given: batch 0 running, jobs 1, 2, 3 waiting
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    first, *waiting = await behind_a_running_batch(runner, combiner, 1, 2, 3)

    # when: the submitter of job 2 is cancelled, then batch 0 ends
    waiting[1].cancel()
    await settle()
    runner.open(0)
    await runner.started(2)
    runner.open(1)
    outcomes = await finish(first, *waiting, return_exceptions=True)

    # then: job 2 never ran and its submitter saw the cancellation; 1 and 3 ran together
    assert runner.batches == [[0], [1, 3]]
    assert outcomes[0] == 0 and outcomes[1] == 10 and outcomes[3] == 30
    assert isinstance(outcomes[2], asyncio.CancelledError)
    assert combiner._lanes == {}


async def test_cancelled_submitters_at_the_head_of_the_queue_do_not_take_the_lead():
    """When the first waiting submitters were cancelled, the next live one leads the batch."""
    # given: batch 0 running, jobs 1, 2, 3 waiting
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    first, *waiting = await behind_a_running_batch(runner, combiner, 1, 2, 3)

    # when: the two oldest waiting submitters are cancelled
    waiting[0].cancel()
    waiting[1].cancel()
    await settle()
    runner.open(0)
    await runner.started(2)
    runner.open(1)
    outcomes = await finish(first, *waiting, return_exceptions=True)

    # then: job 3 ran alone and the lane is gone
    assert runner.batches == [[0], [3]]
    assert outcomes[3] == 30
    assert combiner._lanes == {}


async def test_when_every_waiting_submitter_is_cancelled_the_lane_is_removed():
    """Nobody left to lead: the lane is deleted and a later submit starts afresh."""
    # given: batch 0 running, jobs 1 and 2 waiting, both cancelled
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    first, *waiting = await behind_a_running_batch(runner, combiner, 1, 2)
    for task in waiting:
        task.cancel()
    await settle()

    # when: batch 0 ends
    runner.open(0)
    assert await first == 0

    # then: no lane is left, and a new job runs at once in its own batch
    assert combiner._lanes == {}
    runner.open(1)
    assert await asyncio.wait_for(combiner.submit("k", 7), 2) == 70
    assert runner.batches == [[0], [7]]


async def test_a_leader_cancelled_mid_batch_hands_over_and_the_rest_of_its_batch_runs_again():
    """Cancelling the submitter whose task runs the batch ends that batch; its other jobs run later."""
    # given: batch 1 (jobs 1, 2) running in job 1's task, job 3 queued behind it
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    tasks = await behind_a_running_batch(runner, combiner, 1, 2)
    runner.open(0)
    await runner.started(2)
    tasks.append(submit(combiner, "k", 3))
    await settle()

    # when: the task running batch 1 is cancelled
    tasks[1].cancel()
    await runner.started(3)
    for n in range(2, 5):
        runner.open(n)
    outcomes = await finish(*tasks, return_exceptions=True)

    # then: the cancelled leader ends cancelled; job 2, whose batch was cut short, was not cancelled
    #       itself: it is submitted again and runs once more; job 3 still runs
    assert runner.batches[:2] == [[0], [1, 2]]
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert outcomes[2] == 20 and any(2 in batch for batch in runner.batches[2:])
    assert outcomes[3] == 30
    assert combiner._lanes == {}


async def test_a_submitter_cancelled_right_after_being_handed_the_lead_does_not_stall_the_lane():
    """The lead passes on even if its new holder is cancelled before it wakes up.

    The finishing leader sets the next waiter's signal to "lead"; if that waiter's task is cancelled
    before it runs again, `await ticket.signal` raises CancelledError. Unless the waiter passes the
    lead on, nobody leads: the lane stays busy forever and every later submit of the key hangs.
    """
    # given: batch 0 running, job 1 waiting to lead the next batch, job 2 queued behind it
    runner = Runner()
    combiner: Combiner[object, object] = Combiner(runner)
    handed: list[asyncio.Task[object]] = []

    async def leader() -> object:
        result = await combiner.submit("k", 0)
        # No await since the hand-off: job 1's task has been told to lead but has not resumed yet.
        handed[0].cancel()
        return result

    first = asyncio.create_task(leader())
    await runner.started(1)
    handed.append(submit(combiner, "k", 1))
    queued = submit(combiner, "k", 2)
    await settle()

    # when: batch 0 ends and job 1's submitter is cancelled at once
    for n in range(3):
        runner.open(n)
    assert await first == 0

    # then: job 1 is dropped, job 2 still runs, and so does a later job; the lane drains
    assert await asyncio.wait_for(queued, 2) == 20
    assert await asyncio.wait_for(combiner.submit("k", 3), 2) == 30
    assert handed[0].cancelled()
    assert runner.batches == [[0], [2], [3]]
    assert combiner._lanes == {}


async def test_max_batch_splits_a_long_queue():
    """With max_batch 3, seven waiting jobs run as 3 + 3 + 1, in order."""
    # given: a combiner of at most three jobs per batch, batch 0 running
    runner = Runner(held=True)
    combiner: Combiner[object, object] = Combiner(runner, max_batch=3)
    tasks = await behind_a_running_batch(runner, combiner, *range(1, 8))

    # when: every batch is let through
    for n in range(4):
        runner.open(n)
    results = await finish(*tasks)

    # then: [0], [1, 2, 3], [4, 5, 6], [7]
    assert runner.batches == [[0], [1, 2, 3], [4, 5, 6], [7]]
    assert results == [n * 10 for n in range(8)]
    assert combiner._lanes == {}


async def test_lanes_of_different_keys_run_in_parallel():
    """A held batch of key A does not delay key B; both run at once; no lane is left afterwards."""
    # given: one runner per key so each can be held on its own
    runners = {"a": Runner(), "b": Runner()}
    running = 0
    most_running = 0

    async def run(tickets: list[Ticket[tuple[str, int], object]]) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        try:
            key = tickets[0].job[0]
            assert all(t.job[0] == key for t in tickets)
            inner = [Ticket(n) for _, n in (t.job for t in tickets)]
            await runners[key](inner)  # type: ignore[arg-type]
            for outer, result in zip(tickets, inner, strict=True):
                outer.resolve(result.outcome)
        finally:
            running -= 1

    combiner: Combiner[tuple[str, int], object] = Combiner(run)
    a = [asyncio.create_task(combiner.submit("a", ("a", n))) for n in range(3)]
    await runners["a"].started(1)

    # when: key B's jobs are submitted and let through while A's first batch is held
    b = [asyncio.create_task(combiner.submit("b", ("b", n))) for n in range(3)]
    await runners["b"].started(1)
    assert most_running == 2
    runners["b"].open(0)
    runners["b"].open(1)
    assert await asyncio.wait_for(asyncio.gather(*b), 2) == [0, 10, 20]

    # then: A was still held all along, and finishes once opened
    assert not any(task.done() for task in a)
    runners["a"].open(0)
    runners["a"].open(1)
    assert await finish(*a) == [0, 10, 20]
    assert runners["a"].batches == [[0], [1, 2]]
    assert runners["b"].batches == [[0], [1, 2]]
    assert combiner._lanes == {}


async def test_many_keys_under_random_interleaving_all_complete():
    """Hundreds of jobs on a few keys, with runners that yield: every job gets its result once."""
    # given: a runner that yields a few times and checks one batch per key at a time
    active: set[Hashable] = set()
    seen: list[tuple[int, int]] = []

    async def run(tickets: list[Ticket[tuple[int, int], int]]) -> None:
        key = tickets[0].job[0]
        assert key not in active
        active.add(key)
        try:
            for _ in range(key + 1):
                await asyncio.sleep(0)
            for ticket in tickets:
                seen.append(ticket.job)
                ticket.resolve(ticket.job[1])
        finally:
            active.discard(key)

    combiner: Combiner[tuple[int, int], int] = Combiner(run, max_batch=5)

    async def one(key: int, n: int) -> int:
        for _ in range(n % 4):
            await asyncio.sleep(0)
        return await combiner.submit(key, (key, n))

    # when: 300 jobs over 4 keys are submitted with staggered starts
    jobs = [(n % 4, n) for n in range(300)]
    results = await finish(*(one(k, n) for k, n in jobs))

    # then: each job ran exactly once and returned its own number
    assert results == [n for _, n in jobs]
    assert sorted(seen) == sorted(jobs)
    assert combiner._lanes == {}
