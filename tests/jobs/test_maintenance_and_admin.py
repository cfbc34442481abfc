"""The reaper, periodic maintenance and the jobs admin, on the test database (no worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.access.principals import SYSTEM, Principal
from apps.jobs import maintenance, services
from apps.jobs.models import Job, JobStatus
from apps.routing.models import RuntimeInstance, RuntimeStatus
from apps.tools.models import ToolCall


def running_job(**fields) -> Job:
    defaults = {
        "tool_name": "sleep",
        "caller": "token:test",
        "caller_principal": {"name": "token:test", "kind": "token", "scopes": ["tools:call"]},
        "status": JobStatus.RUNNING,
        "attempts": 1,
        "fence": 1,
        "worker": "gone@host pid 1",
        "heartbeat_at": timezone.now() - timedelta(seconds=60),
    }
    return Job.objects.create(**{**defaults, **fields})


@pytest.mark.django_db(transaction=True)
def test_reaper_requeues_idempotent_jobs_and_fails_the_others():
    retryable = running_job(idempotent=True, retry_policy="fixed", max_attempts=3)
    exhausted = running_job(idempotent=True, retry_policy="fixed", max_attempts=1)
    once = running_job(tool_name="job_once", idempotent=False)
    cancelled = running_job(cancel_requested_at=timezone.now(), cancel_requested_by="user:admin")
    alive = running_job(heartbeat_at=timezone.now())

    counts = services.reap_lost_jobs(lease_seconds=10)

    assert counts == {"requeued": 1, "failed": 2, "cancelled": 1}
    for job in (retryable, exhausted, once, cancelled, alive):
        job.refresh_from_db()
    assert retryable.status == JobStatus.QUEUED and retryable.fence == 2
    assert "retrying (the tool is idempotent)" in retryable.error
    assert exhausted.status == JobStatus.FAILED
    assert "the most its tool's retry policy allows" in exhausted.error
    assert once.status == JobStatus.FAILED
    assert "tool 'job_once' is not idempotent, so the job is not run again" in once.error
    assert cancelled.status == JobStatus.CANCELLED
    assert alive.status == JobStatus.RUNNING and alive.fence == 1
    # The old worker's fenced writes no longer land.
    assert not services.finish_job(job_id=once.pk, fence=1, status=JobStatus.SUCCEEDED)
    assert services.renew_claim(job_id=alive.pk, fence=1) == (True, False)
    assert services.renew_claim(job_id=retryable.pk, fence=1) == (False, False)


@pytest.mark.django_db(transaction=True)
def test_a_job_is_claimed_by_one_delivery_only():
    job = Job.objects.create(tool_name="sleep", caller="system", caller_principal=SYSTEM.to_dict())
    first = services.claim_job(job_id=str(job.pk), worker="a")
    assert first is not None and first.fence == 1 and first.attempts == 1
    assert services.claim_job(job_id=str(job.pk), worker="b") is None
    assert services.claim_job(job_id="not-a-uuid", worker="b") is None


@pytest.mark.django_db(transaction=True)
def test_cancel_ends_a_queued_or_waiting_job_and_asks_a_running_one_to_stop():
    caller = Principal(name="token:test", kind="token", scopes=frozenset({"tools:call"}))
    queued = running_job(status=JobStatus.QUEUED, attempts=0, fence=0, worker="")
    waiting = running_job(status=JobStatus.INPUT_REQUIRED)
    running = running_job()
    done = running_job(status=JobStatus.SUCCEEDED, finished_at=timezone.now())

    for job, why in ((queued, "before it started"), (waiting, "while it waited for input")):
        fence = job.fence
        job = services.cancel_job(job=job, principal=caller)
        assert job.status == JobStatus.CANCELLED
        assert job.error == f"Cancelled by token:test {why}"
        assert job.fence == fence + 1  # its worker's later writes are refused
        assert job.finished_at is not None
    running = services.cancel_job(job=running, principal=caller)
    assert running.status == JobStatus.RUNNING  # its worker stops it
    assert running.cancel_requested_by == "token:test" and running.fence == 1
    with pytest.raises(services.JobConflict, match="already succeeded"):
        services.cancel_job(job=done, principal=caller)


@pytest.mark.django_db(transaction=True)
def test_maintenance_prunes_old_records_and_marks_stale_runtimes_down():
    now = timezone.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    for started in (old, recent):
        ToolCall.objects.create(
            tool_name="echo", started_at=started, duration_ms=1, outcome="success"
        )
    old_job = running_job(status=JobStatus.SUCCEEDED)
    Job.objects.filter(pk=old_job.pk).update(finished_at=old)
    expired = running_job(status=JobStatus.SUCCEEDED, finished_at=now, ttl_seconds=1)
    Job.objects.filter(pk=expired.pk).update(created_at=now - timedelta(seconds=5))
    kept = running_job(status=JobStatus.FAILED, finished_at=recent)
    still_running = running_job(heartbeat_at=now)

    def instance(age: float, status: str) -> RuntimeInstance:
        return RuntimeInstance.objects.create(
            instance_id=f"i-{age}",
            host="127.0.0.1",
            port=1,
            pid=1,
            started_at=now,
            last_heartbeat=now - timedelta(seconds=age),
            status=status,
        )

    stale, fresh = instance(120, RuntimeStatus.UP), instance(1, RuntimeStatus.UP)

    assert maintenance.prune_call_records(days=30) == 1
    assert maintenance.prune_finished_jobs(days=30) == 2
    assert maintenance.mark_stale_runtimes_down(stale_seconds=30) == 1

    assert list(ToolCall.objects.values_list("started_at", flat=True)) == [recent]
    assert set(Job.objects.values_list("pk", flat=True)) == {kept.pk, still_running.pk}
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (RuntimeStatus.DOWN, RuntimeStatus.UP)
    # Each runtime process has its own row: those down for a week are deleted.
    long_gone = instance(8 * 86400, RuntimeStatus.DOWN)
    assert maintenance.prune_down_runtimes(older_than_days=7) == 1
    assert not RuntimeInstance.objects.filter(pk=long_gone.pk).exists()
    assert RuntimeInstance.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_admin_lists_jobs_by_status_and_cancels_them(admin_user, client, catalogue):
    queued = services.submit_job(tool_name="sleep", arguments={"seconds": 5}, principal=SYSTEM)
    done = running_job(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), progress=3, progress_total=3
    )
    ToolCall.objects.create(
        tool_name="sleep",
        started_at=timezone.now(),
        duration_ms=3000,
        outcome="success",
        request_id=done.request_id(1),
    )
    client.force_login(admin_user)

    page = client.get("/admin/jobs/job/", {"status__exact": "queued"})
    assert page.status_code == 200
    assert str(queued.pk) in page.content.decode() and str(done.pk) not in page.content.decode()

    page = client.get(f"/admin/jobs/job/{done.pk}/change/").content.decode()
    assert done.request_id(1) in page  # the job's calls, linked
    assert f"?q={done.request_id_prefix}" in client.get("/admin/jobs/job/").content.decode()
    assert '<progress max="100" value="100">' in client.get("/admin/jobs/job/").content.decode()

    reply = client.post(
        "/admin/jobs/job/",
        {"action": "cancel_jobs", "_selected_action": [str(queued.pk), str(done.pk)]},
        follow=True,
    )
    assert "Cancelled 1 job(s)" in reply.content.decode()
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    assert queued.error == "Cancelled by user:admin before it started"
