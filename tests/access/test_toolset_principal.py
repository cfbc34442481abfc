"""A principal bound to toolsets: what it may use, also once stored with work it queues for
later (jobs, queued tasks, workflows)."""

import json

import pytest

from apps.access.principals import SCOPE_CALL, SCOPE_READ, Principal

SCOPES = frozenset({SCOPE_READ, SCOPE_CALL})


def _principal(*, own=(), toolsets=None) -> Principal:
    return Principal(
        name="t", kind="token", scopes=SCOPES, tool_patterns=own, toolset_patterns=toolsets
    )


def test_a_toolset_bound_principal_uses_only_the_toolsets_tools_within_its_own_patterns():
    bound = _principal(toolsets=("echo", "bulk_0*"))
    assert bound.may_call("echo") and bound.may_call("bulk_001")
    assert not bound.may_call("calculate") and not bound.may_list("bulk_100")
    narrowed = _principal(own=("bulk*",), toolsets=("echo", "bulk_0*"))
    assert narrowed.may_call("bulk_001") and not narrowed.may_call("echo")
    assert not _principal(toolsets=()).may_call("echo")  # bound to an empty toolset
    assert _principal().may_call("anything")


@pytest.mark.parametrize(
    "principal",
    [
        _principal(own=("e*",)),
        _principal(toolsets=("echo", "b*")),
        _principal(own=("bulk*",), toolsets=("echo", "bulk_0*")),
        _principal(toolsets=()),
        _principal(own=("calc*",), toolsets=("echo",)),
    ],
)
def test_the_stored_principal_allows_exactly_what_the_principal_does(principal):
    """What a job, a queued task or a workflow keeps (`to_dict`) and runs as (`from_dict`)."""
    stored = Principal.from_dict(json.loads(json.dumps(principal.to_dict())))
    for name in ("echo", "bulk_001", "bulk_100", "calculate", "e2", "b"):
        assert stored.may_call(name) == principal.may_call(name), name
