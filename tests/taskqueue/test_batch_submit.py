"""`p2p_taskqueue_submit` with a list: many tasks in one call and one transaction, each with its
own fields; all or none; the reply's task ids in the order given. Through the real call path,
run the way the Trio runtime runs it, on the real test database."""

from __future__ import annotations

import pytest
import trio

from apps.access.principals import Principal
from apps.peers.models import P2PSettings
from apps.taskqueue import services
from apps.taskqueue.models import Task
from apps.tools.call_service import InvalidArguments, call_tool
from apps.tools.services import sync_tools

QUEUE_AND_ECHO = Principal(
    name="token:queue-and-echo",
    kind="token",
    scopes=frozenset({"tools:call"}),
    tool_patterns=("p2p_taskqueue_*", "echo"),
)
# No patterns: any tool, so that a bad tool name reaches the queue's own checks.
ANY_TOOL = Principal(name="token:any-tool", kind="token", scopes=frozenset({"tools:call"}))


@pytest.fixture
def tools(transactional_db):
    sync_tools()


def submit(arguments: dict, principal: Principal = QUEUE_AND_ECHO):
    return trio.run(call_tool, "p2p_taskqueue_submit", arguments, principal, "test")


def echo(message: str, **fields) -> dict:
    return {"tool": "echo", "arguments": {"message": message}, **fields}


def test_a_batch_is_queued_in_order_each_task_with_its_own_fields(tools):
    result = submit(
        {
            "tasks": [
                echo("first", priority=1, idempotency_key="k-first"),
                echo("second", priority=9, max_attempts=5),
                echo("third", queue="other", lease_seconds=10),
            ]
        }
    )
    assert not result.is_error, result.text
    reply = result.structured_content
    assert reply["count"] == 3 and reply["created"] == [True, True, True]
    tasks = [Task.objects.get(pk=task_id) for task_id in reply["task_ids"]]
    assert [t.arguments["message"] for t in tasks] == ["first", "second", "third"]
    assert [t.priority for t in tasks] == [1, 9, 5]
    assert tasks[0].idempotency_key == "k-first" and tasks[1].max_attempts == 5
    assert tasks[2].queue == "other" and tasks[2].lease_seconds == 10
    assert {t.submitted_by for t in tasks} == {"token:queue-and-echo"}
    # Each task's own priority decides the claim order.
    claim = services.claim_task(worker_id="w")
    assert claim is not None and str(claim.task.pk) == reply["task_ids"][1]


def test_idempotency_keys_in_a_batch_return_the_tasks_they_first_created(tools):
    single = submit(echo("before", idempotency_key="k1"))
    assert not single.is_error, single.text
    result = submit(
        {
            "tasks": [
                echo("again", idempotency_key="k1"),
                echo("new", idempotency_key="k2"),
                echo("repeated", idempotency_key="k2"),
            ]
        }
    )
    assert not result.is_error, result.text
    reply = result.structured_content
    assert reply["created"] == [False, True, False]
    assert reply["task_ids"][0] == single.structured_content["task_id"]
    assert reply["task_ids"][1] == reply["task_ids"][2]
    assert Task.objects.count() == 2
    assert Task.objects.get(pk=reply["task_ids"][0]).arguments == {"message": "before"}


@pytest.mark.parametrize(
    ("tasks", "problem"),
    [
        ([echo("ok"), echo("bad", priority=11)], "tasks[1]: priority must be within 0..10"),
        ([echo("ok"), {"tool": "no such name!"}], "tasks[1]: invalid tool name"),
        ([echo("ok", max_attempts=0)], "tasks[0]: max_attempts must be at least 1"),
        ([], "tasks must be a non-empty list"),
    ],
)
def test_a_batch_with_a_bad_task_queues_nothing_and_names_it(tools, tasks, problem):
    result = submit({"tasks": tasks}, ANY_TOOL)
    assert result.is_error
    assert problem in result.text
    assert not Task.objects.exists()


def test_a_batch_over_the_limit_is_refused(tools):
    too_many = [echo(str(n)) for n in range(services.MAX_BATCH_TASKS + 1)]
    result = submit({"tasks": too_many})
    assert result.is_error and f"at most {services.MAX_BATCH_TASKS} tasks" in result.text
    assert not Task.objects.exists()


def test_a_batch_that_would_overfill_the_queue_queues_nothing(tools):
    P2PSettings.objects.update_or_create(pk=1, defaults={"taskqueue_max_tasks": 2})
    result = submit({"tasks": [echo("a"), echo("b"), echo("c")]})
    assert result.is_error and "exceed its maximum" in result.text
    assert not Task.objects.exists()


def test_a_batch_is_refused_whole_when_one_tool_is_not_the_callers(tools):
    result = submit({"tasks": [echo("ok"), {"tool": "p2p_peer_list"}]})
    assert result.is_error
    assert "may not call tool 'p2p_peer_list'" in result.text
    assert not Task.objects.exists()


def test_an_unknown_field_in_a_batch_task_is_invalid_arguments(tools):
    with pytest.raises(InvalidArguments, match=r"tasks\.0\.colour"):
        submit({"tasks": [echo("x", colour="blue")]})
    assert not Task.objects.exists()


def test_the_single_form_is_unchanged_and_cannot_be_mixed_with_a_batch(tools):
    single = submit(echo("one", priority=7))
    assert not single.is_error, single.text
    reply = single.structured_content
    assert reply["created"] is True and reply["priority"] == 7 and reply["tool"] == "echo"
    both = submit({**echo("one"), "tasks": [echo("two")]})
    assert both.is_error and "not both" in both.text
    neither = submit({"arguments": {"message": "x"}})
    assert neither.is_error and "`tool` is required" in neither.text
    assert Task.objects.count() == 1
