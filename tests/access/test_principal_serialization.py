"""One serialization of a principal: what a job stores and a bridged call sends comes back whole."""

from __future__ import annotations

import json

import pytest

from apps.access.principals import Principal
from apps.jobs import services as jobs
from apps.jobs.models import Job

PEER = Principal(
    name="peer:12D3KooWsomeone",
    kind="peer",
    scopes=frozenset({"tools:read", "tools:call"}),
    tool_patterns=("echo*", "calc*"),
    denied_tools=("p2p_dial", "p2p_call_remote"),
    audiences=("https://mcp.example/mcp",),
    token_id=7,
    valid_until=1.0,
)


def test_a_principal_survives_json_whole_but_its_credential_bookkeeping():
    back = Principal.from_dict(json.loads(json.dumps(PEER.to_dict())))
    assert back == PEER
    assert (back.denied_tools, back.audiences) == (PEER.denied_tools, PEER.audiences)
    assert back.token_id is None and back.valid_until is None
    assert not back.may_call("p2p_dial") and back.may_call("echo")


@pytest.mark.parametrize(
    "data",
    [[], "peer", {"kind": "peer"}, {"name": "x", "kind": "peer", "scopes": "tools:call"}],
)
def test_a_malformed_principal_is_refused_with_a_type_or_key_error(data):
    with pytest.raises((TypeError, KeyError)):
        Principal.from_dict(data)


@pytest.mark.django_db
def test_a_job_runs_as_its_whole_caller_denied_tools_included():
    job = Job.objects.create(tool_name="echo", caller=PEER.name, caller_principal=PEER.to_dict())
    principal = jobs.principal_for(Job.objects.get(pk=job.pk))
    assert principal == PEER
    assert not principal.may_call("p2p_dial")
