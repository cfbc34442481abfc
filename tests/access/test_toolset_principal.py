"""A principal bound to toolsets: what it may use, and the one pattern list kept with work it
queues for later (jobs, queued tasks, workflows)."""

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


def test_the_stored_patterns_allow_no_more_than_the_principal():
    assert _principal(own=("e*",)).stored_tool_patterns == ("e*",)
    assert set(_principal(toolsets=("echo", "b*")).stored_tool_patterns) == {"b*", "echo"}
    assert _principal(own=("bulk*",), toolsets=("echo", "bulk_0*")).stored_tool_patterns == (
        "bulk_0*",
    )
    for nothing in (_principal(toolsets=()), _principal(own=("calc*",), toolsets=("echo",))):
        stored = Principal(
            name="job", kind="token", scopes=SCOPES, tool_patterns=nothing.stored_tool_patterns
        )
        assert not stored.may_call("echo") and not stored.may_call("calculate")
