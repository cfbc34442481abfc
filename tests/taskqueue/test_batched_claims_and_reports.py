"""Claims and reports in batches (what the worker pool does: one transaction for the tasks of
many workers) keep every guarantee of the one-task calls: the most urgent first, one holder per
task, a fenced report per attempt, workflows moved on, a stale report rejected and noted."""

from __future__ import annotations

import pytest
import trio

from apps.taskqueue import services, workflows
from apps.taskqueue.models import AttemptOutcome, StepStatus, Task, TaskStatus, Worker
from apps.taskqueue.workers import WorkerConfig, WorkerPool, execute_locally

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_claim_gives_each_worker_its_own_task_most_urgent_first():
    low, _ = services.submit_task(tool="echo", arguments={"message": "low"}, priority=1)
    high, _ = services.submit_task(tool="echo", arguments={"message": "high"}, priority=9)
    mid, _ = services.submit_task(tool="echo", arguments={"message": "mid"}, priority=5)
    claims = services.claim_tasks(worker_ids=["w0", "w1"])
    assert [c.task.pk for c in claims] == [high.pk, mid.pk]
    assert [(c.task.worker_id, c.task.status) for c in claims] == [
        ("w0", TaskStatus.RUNNING),
        ("w1", TaskStatus.RUNNING),
    ]
    assert all(c.task.attempt_log.get().worker_id == c.task.worker_id for c in claims)
    # What is claimed stays claimed: the next batch gets only what is left.
    assert [c.task.pk for c in services.claim_tasks(worker_ids=["w2", "w3"])] == [low.pk]
    assert services.claim_tasks(worker_ids=["w4"]) == []


def test_a_paused_queue_gives_no_claims():
    services.submit_task(tool="echo")
    services.set_paused(paused=True)
    assert services.claim_tasks(worker_ids=["w0", "w1"]) == []
    services.set_paused(paused=False)
    assert len(services.claim_tasks(worker_ids=["w0", "w1"])) == 1


def test_reports_in_one_batch_complete_fail_and_reject_stale_ones_each_as_alone(catalogue):
    done, _ = services.submit_task(tool="echo", priority=9)
    failing, _ = services.submit_task(tool="echo", priority=8, max_attempts=1)
    stale, _ = services.submit_task(tool="echo", priority=7)
    services.record_worker(worker_id="w0", kind="runtime", hostname="h", pid=1)
    claims = {c.task.pk: c for c in services.claim_tasks(worker_ids=["w0", "w1", "w2"])}
    outcomes = services.report_tasks(
        [
            services.Report(done.pk, claims[done.pk].token, True, {"message": "ok"}),
            services.Report(failing.pk, claims[failing.pk].token, False, "it broke"),
            # A worker whose claim is no longer current (its token moved on).
            services.Report(stale.pk, claims[stale.pk].token - 1, True, {"late": True}),
        ]
    )
    assert outcomes[:2] == [None, None] and isinstance(outcomes[2], services.StaleToken)
    rows = {t.pk: t for t in Task.objects.filter(pk__in=[done.pk, failing.pk, stale.pk])}
    assert (rows[done.pk].status, rows[done.pk].result) == (TaskStatus.SUCCEEDED, {"message": "ok"})
    assert (rows[failing.pk].status, rows[failing.pk].error) == (TaskStatus.DEAD, "it broke")
    assert rows[stale.pk].status == TaskStatus.RUNNING  # the stale report changed nothing
    assert [a.outcome for a in rows[done.pk].attempt_log.all()] == [AttemptOutcome.SUCCEEDED]
    assert [a.outcome for a in rows[failing.pk].attempt_log.all()] == [AttemptOutcome.FAILED]
    assert Worker.objects.get(worker_id="w0").completed == 1


def test_a_batched_report_moves_a_workflow_on():
    wf = workflows.submit_workflow(
        steps=[
            {"id": "a", "tool": "echo", "arguments": {"message": "first"}},
            {
                "id": "b",
                "tool": "echo",
                "arguments": {"message": "a said {{steps.a.result.message}}"},
                "depends_on": ["a"],
            },
        ]
    )
    (claim,) = services.claim_tasks(worker_ids=["w0", "w1"])
    assert services.report_tasks(
        [services.Report(claim.task.pk, claim.token, True, {"message": "hi"})]
    ) == [None]
    (next_claim,) = services.claim_tasks(worker_ids=["w0"])
    assert next_claim.task.arguments == {"message": "a said hi"}
    assert {s.step_id: s.status for s in wf.steps.all()}["a"] == StepStatus.SUCCEEDED


def test_a_pool_runs_a_batch_of_tasks_each_exactly_once(catalogue):
    submitted = services.submit_tasks(
        tasks=[{"tool": "echo", "arguments": {"message": f"m{n}"}} for n in range(40)]
    )
    ids = {task.pk for task, _ in submitted}

    async def main() -> None:
        pool = WorkerPool(WorkerConfig(prefix="batch", concurrency=6), execute_locally)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool.run)
            for _ in range(600):  # polls, at most a minute
                succeeded = await trio.to_thread.run_sync(
                    lambda: Task.objects.filter(pk__in=ids, status=TaskStatus.SUCCEEDED).count()
                )
                if succeeded == len(ids):
                    break
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    trio.run(main)
    tasks = Task.objects.filter(pk__in=ids)
    assert {t.result["message"] for t in tasks} == {f"m{n}" for n in range(40)}
    assert {(t.attempts, t.attempt_log.count()) for t in tasks} == {(1, 1)}
    workers = Worker.objects.filter(worker_id__startswith="batch@")
    assert workers.count() == 6 and sum(w.completed for w in workers) == 40
