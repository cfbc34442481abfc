"""The task queue and workflow services on the real test database (no runtime needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.taskqueue import selectors, services, workflows
from apps.taskqueue.models import AttemptOutcome, StepStatus, TaskStatus, WorkflowStatus

pytestmark = pytest.mark.django_db(transaction=True)


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def test_higher_priority_is_claimed_first():
    services.submit_task(tool="echo", arguments={"message": "low"}, priority=1)
    high, _ = services.submit_task(tool="echo", arguments={"message": "high"}, priority=9)
    claim = services.claim_task(worker_id="w")
    assert claim is not None and claim.task.pk == high.pk


def test_two_claims_only_the_current_token_completes(catalogue):
    task, _ = services.submit_task(tool="echo", lease_seconds=5)
    first = services.claim_task(worker_id="w1")
    assert first is not None
    assert services.claim_task(worker_id="w2") is None  # leased: nobody else gets it
    # The first worker goes silent; once its lease expires the reaper requeues the task.
    assert services.reap_expired_leases(now=later(10)) == 1
    second = services.claim_task(worker_id="w2", now=later(11))
    assert second is not None and second.token > first.token
    assert not services.renew_lease(task_id=task.pk, token=first.token)
    with pytest.raises(services.StaleToken):
        services.complete_task(task_id=task.pk, token=first.token, result={"from": "w1"})
    services.complete_task(task_id=task.pk, token=second.token, result={"from": "w2"})
    with pytest.raises(services.StaleToken):
        services.complete_task(task_id=task.pk, token=second.token, result={"again": True})
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED and task.result == {"from": "w2"}
    outcomes = [a["outcome"] for a in selectors.task_dict(task, attempts=True)["attempt_log"]]
    assert outcomes == [AttemptOutcome.STALE, AttemptOutcome.SUCCEEDED]


def test_a_renewed_lease_is_not_reaped(catalogue):
    task, _ = services.submit_task(tool="echo", lease_seconds=5)
    claim = services.claim_task(worker_id="w1")
    assert services.renew_lease(task_id=task.pk, token=claim.token, now=later(4))
    assert services.reap_expired_leases(now=later(6)) == 0
    assert services.reap_expired_leases(now=later(10)) == 1


def test_same_idempotency_key_returns_the_same_task():
    first, created = services.submit_task(
        tool="echo", arguments={"message": "a"}, idempotency_key="k1"
    )
    again, created_again = services.submit_task(
        tool="echo", arguments={"message": "b"}, idempotency_key="k1"
    )
    assert created and not created_again and again.pk == first.pk
    assert again.arguments == {"message": "a"}


def test_failures_back_off_then_dead_letter_after_max_attempts():
    task, _ = services.submit_task(tool="echo", max_attempts=3, backoff_seconds=2)
    now = timezone.now()
    for attempt in range(1, 4):
        assert services.claim_task(worker_id="w", now=now) is not None
        claim_token = services.get_task(task.pk).fencing_token
        failed = services.fail_task(task_id=task.pk, token=claim_token, error=f"boom {attempt}")
        if attempt < 3:
            assert failed.status == TaskStatus.QUEUED
            delay = (failed.next_run_at - timezone.now()).total_seconds()
            assert 2 * 2 ** (attempt - 1) - 1 < delay <= 2 * 2 ** (attempt - 1)
            assert services.claim_task(worker_id="w", now=now) is None  # not due yet
            now = failed.next_run_at + timedelta(seconds=0.01)
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD and task.attempts == 3 and task.error == "boom 3"
    assert selectors.queue_stats()["dead_letter"] == 1
    retried = services.retry_task(task_id=task.pk)
    assert retried.status == TaskStatus.QUEUED and retried.attempts == 0


def test_cancelling_a_running_task_fences_out_its_worker():
    task, _ = services.submit_task(tool="echo")
    claim = services.claim_task(worker_id="w")
    services.cancel_task(task_id=task.pk)
    with pytest.raises(services.StaleToken):
        services.complete_task(task_id=task.pk, token=claim.token, result={})
    assert services.get_task(task.pk).status == TaskStatus.CANCELLED


def test_paused_queue_hands_out_nothing_until_resumed():
    services.submit_task(tool="echo")
    services.set_paused(paused=True)
    assert services.claim_task(worker_id="w") is None
    services.set_paused(paused=False)
    assert services.claim_task(worker_id="w") is not None


def test_a_released_task_is_claimable_again_without_using_an_attempt():
    task, _ = services.submit_task(tool="echo", max_attempts=1)
    claim = services.claim_task(worker_id="w")
    assert services.release_task(task_id=task.pk, token=claim.token)
    again = services.claim_task(worker_id="w2")
    assert again is not None and again.task.attempts == 1


def _non_idempotent_tool(name: str = "append_line") -> str:
    from apps.tools.models import Tool

    Tool.objects.create(name=name, description="appends a line (not idempotent)")
    return name


def test_a_worker_whose_heartbeat_stopped_loses_its_task_before_the_lease_ends(catalogue):
    task, _ = services.submit_task(tool="echo", lease_seconds=30)
    claim = services.claim_task(worker_id="w1")
    services.record_worker(worker_id="w1", kind="runtime", hostname="h", pid=1)
    assert services.reap_expired_leases(now=later(5)) == 0  # its heartbeat is still fresh
    assert services.reap_expired_leases(now=later(11)) == 1  # silent for 10 s, lease has 19 s
    assert not services.renew_lease(task_id=task.pk, token=claim.token)  # fenced out
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED  # echo is idempotent: it runs again
    attempt = task.attempt_log.get()
    assert attempt.outcome == AttemptOutcome.LOST
    assert attempt.error == "the worker's heartbeat stopped"


def test_a_non_idempotent_tool_cut_off_mid_run_is_dead_lettered_not_run_again(catalogue):
    task, _ = services.submit_task(tool=_non_idempotent_tool(), max_attempts=3, lease_seconds=5)
    services.claim_task(worker_id="w1")
    assert services.reap_expired_leases(now=later(10)) == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD and task.attempts == 1
    assert "lease expired" in task.error and "not idempotent" in task.error
    assert services.claim_task(worker_id="w2", now=later(20)) is None
    assert [a.outcome for a in task.attempt_log.all()] == [AttemptOutcome.LOST]


def test_a_stopping_worker_gives_back_an_idempotent_task_but_not_a_started_non_idempotent_one(
    catalogue,
):
    idempotent, _ = services.submit_task(tool="echo", priority=9)
    other, _ = services.submit_task(tool=_non_idempotent_tool(), priority=1)
    first = services.claim_task(worker_id="w")
    second = services.claim_task(worker_id="w")
    assert services.release_task(task_id=idempotent.pk, token=first.token, started=True)
    assert services.release_task(task_id=other.pk, token=second.token, started=True)
    idempotent.refresh_from_db()
    other.refresh_from_db()
    assert idempotent.status == TaskStatus.QUEUED and idempotent.attempts == 0
    assert other.status == TaskStatus.DEAD and "worker stopped while the tool ran" in other.error


def _run_step(step_id: str, result=None, *, fail: str | None = None):
    claim = services.claim_task(worker_id="w")
    assert claim is not None, f"no task for step {step_id}"
    assert claim.task.workflow_step.step_id == step_id
    if fail:
        return services.fail_task(task_id=claim.task.pk, token=claim.token, error=fail)
    return services.complete_task(task_id=claim.task.pk, token=claim.token, result=result)


def test_workflow_passes_results_along_its_dependencies():
    wf = workflows.submit_workflow(
        name="chain",
        steps=[
            {"id": "a", "tool": "calculate", "arguments": {"operation": "add", "a": 1, "b": 2}},
            {
                "id": "b",
                "tool": "calculate",
                "arguments": {"operation": "multiply", "a": "{{steps.a.result.result}}", "b": 10},
                "depends_on": ["a"],
            },
            {
                "id": "c",
                "tool": "echo",
                "arguments": {"message": "b said {{steps.b.result.result}}"},
                "depends_on": ["b"],
            },
        ],
    )
    _run_step("a", {"result": 3})
    task_b = services.claim_task(worker_id="w")
    assert task_b.task.arguments == {"operation": "multiply", "a": 3, "b": 10}
    services.complete_task(task_id=task_b.task.pk, token=task_b.token, result={"result": 30})
    task_c = services.claim_task(worker_id="w")
    assert task_c.task.arguments == {"message": "b said 30"}
    services.complete_task(task_id=task_c.task.pk, token=task_c.token, result={"message": "ok"})
    wf.refresh_from_db()
    assert wf.status == WorkflowStatus.SUCCEEDED


def test_a_failing_step_cancels_its_dependents_only():
    wf = workflows.submit_workflow(
        steps=[
            {"id": "ok", "tool": "echo", "arguments": {"message": "x"}},
            {"id": "bad", "tool": "echo", "arguments": {"message": "y"}},
            {"id": "after_bad", "tool": "echo", "depends_on": ["bad"]},
            {"id": "after_both", "tool": "echo", "depends_on": ["ok", "after_bad"]},
        ]
    )
    claims = [services.claim_task(worker_id="w") for _ in range(2)]
    for claim in claims:
        if claim.task.workflow_step.step_id == "bad":
            services.fail_task(task_id=claim.task.pk, token=claim.token, error="no")
        else:
            services.complete_task(task_id=claim.task.pk, token=claim.token, result={})
    wf.refresh_from_db()
    steps = {s["id"]: s["status"] for s in selectors.workflow_dict(wf)["steps"]}
    assert steps == {
        "ok": StepStatus.SUCCEEDED,
        "bad": StepStatus.FAILED,
        "after_bad": StepStatus.CANCELLED,
        "after_both": StepStatus.CANCELLED,
    }
    assert wf.status == WorkflowStatus.FAILED
    assert services.claim_task(worker_id="w") is None


def test_cancelling_a_workflow_cancels_its_queued_tasks():
    wf = workflows.submit_workflow(
        steps=[{"id": "a", "tool": "echo"}, {"id": "b", "tool": "echo", "depends_on": ["a"]}]
    )
    workflows.cancel_workflow(workflow_id=wf.pk)
    wf.refresh_from_db()
    assert wf.status == WorkflowStatus.CANCELLED
    assert {s.status for s in wf.steps.all()} == {StepStatus.CANCELLED}
    assert services.claim_task(worker_id="w") is None


@pytest.mark.parametrize(
    "steps, problem",
    [
        (
            [
                {"id": "a", "tool": "echo", "depends_on": ["b"]},
                {"id": "b", "tool": "echo", "depends_on": ["a"]},
            ],
            "cycle",
        ),
        ([{"id": "a", "tool": "echo", "depends_on": ["zz"]}], "unknown"),
        (
            [
                {"id": "a", "tool": "echo", "arguments": {"m": "{{steps.b.result}}"}},
                {"id": "b", "tool": "echo"},
            ],
            "without depending",
        ),
        ([{"id": "a", "tool": "echo"}, {"id": "a", "tool": "echo"}], "twice"),
    ],
)
def test_bad_workflows_are_refused(steps, problem):
    with pytest.raises(workflows.WorkflowError, match=problem):
        workflows.submit_workflow(steps=steps)


def test_a_restarted_runtime_retires_its_predecessors_workers_and_their_tasks_come_back(
    catalogue,
):
    from apps.taskqueue.models import Worker

    task, _ = services.submit_task(tool="echo", lease_seconds=30)
    services.claim_task(worker_id="trio@h:7.aaaaaa/0")
    services.record_worker(worker_id="trio@h:7.aaaaaa/0", kind="runtime", hostname="h", pid=7)
    assert services.reap_expired_leases() == 0  # its heartbeat is fresh
    # The new runtime (the same pid, as in a container) started after that worker.
    retired = services.retire_workers(hostname="h", pids=[7], started_before=later(1))
    assert retired == 1 and Worker.objects.get().stopped
    assert services.reap_expired_leases() == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED
    assert task.attempt_log.get().error == "the worker stopped"
