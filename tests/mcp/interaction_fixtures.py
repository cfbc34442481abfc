"""Tools that log and ask their caller for input (`ToolContext.log`, `elicit`, `sample`,
`list_roots`), loaded with MCP_PLATFORM_TOOL_MODULES=tests.mcp.interaction_fixtures.

Their names and behaviour are those the official conformance suite
(@modelcontextprotocol/conformance) expects: `test_tool_with_logging`, `test_sampling`,
`test_elicitation`, `test_elicitation_sep1034_defaults`, `test_elicitation_sep1330_enums`
(2025-11-25), `test_logging_tool`, `test_missing_capability`, `test_streaming_elicitation` and
the `test_input_required_result_*` tools and the prompt `test_input_required_result_prompt`
(2026-07-28). `ask_name` and `ask_in_a_hurry` are this suite's own.
"""

from __future__ import annotations

import json

import anyio

from apps.tools.registry import (
    ToolContext,
    register,
    register_prompt,
    unregister,
    unregister_prompt,
)

NAME_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}


async def test_tool_with_logging(ctx: ToolContext) -> str:
    """Send three info log entries while it runs."""
    await ctx.log("info", "Tool execution started")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return "Tool with logging executed successfully"


async def test_logging_tool(ctx: ToolContext) -> str:
    """Log one entry at each of debug, info and error."""
    await ctx.log("debug", "a debug entry")
    await ctx.log("info", "an info entry", data={"step": 1})
    await ctx.log("error", "an error entry")
    return "logged"


async def test_sampling(prompt: str, ctx: ToolContext) -> str:
    """Ask the client's model to answer `prompt`."""
    sampled = await ctx.sample(prompt, max_tokens=100)
    text = getattr(sampled.content, "text", "")
    return f"LLM response: {text}"


async def test_elicitation(message: str, ctx: ToolContext) -> str:
    """Ask the user for a username and an email address."""
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    answer = await ctx.elicit(message, schema)
    return f"User response: action={answer.action}, content={json.dumps(answer.content)}"


async def test_elicitation_sep1034_defaults(ctx: ToolContext) -> str:
    """Elicit with a default for every primitive type (SEP-1034)."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {
                "type": "string",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "default": True},
        },
    }
    answer = await ctx.elicit("Please review your details", schema)
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


async def test_elicitation_sep1330_enums(ctx: ToolContext) -> str:
    """Elicit with the five enum shapes of SEP-1330."""
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
    }
    answer = await ctx.elicit("Choose your options", schema)
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


async def test_missing_capability(ctx: ToolContext) -> str:
    """Needs sampling: a client that did not declare it gets -32021 (2026 era)."""
    sampled = await ctx.sample("Say hello", max_tokens=20)
    return getattr(sampled.content, "text", "")


async def test_streaming_elicitation(ctx: ToolContext) -> str:
    """Log, then ask for a name (2026 era: an InputRequiredResult, never a request)."""
    await ctx.log("info", "about to ask")
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {(answer.content or {}).get('name')}!"


async def test_input_required_result_elicitation(ctx: ToolContext) -> str:
    """Ask the user for a name (2026 era: an InputRequiredResult keyed `user_name`)."""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {(answer.content or {}).get('name')}!"


async def test_input_required_result_sampling(ctx: ToolContext) -> str:
    """Ask the client's model a question (keyed `capital_question`)."""
    sampled = await ctx.sample(
        "What is the capital of France?", max_tokens=100, key="capital_question"
    )
    return f"LLM response: {getattr(sampled.content, 'text', '')}"


async def test_input_required_result_list_roots(ctx: ToolContext) -> str:
    """Ask the client for its roots (keyed `client_roots`)."""
    roots = await ctx.list_roots(key="client_roots")
    return "Roots: " + ", ".join(str(root.uri) for root in roots)


async def test_input_required_result_request_state(ctx: ToolContext) -> str:
    """Ask for a confirmation; the second round carries the request state back."""
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    answer = await ctx.elicit("Please confirm", schema, key="confirm")
    return f"state-ok: confirmed={(answer.content or {}).get('ok')}"


async def test_input_required_result_multi_round(ctx: ToolContext) -> str:
    """Ask twice, one question per round: a name, then a colour."""
    name = await ctx.elicit("Step 1: What is your name?", NAME_SCHEMA, key="step1")
    color_schema = {
        "type": "object",
        "properties": {"color": {"type": "string"}},
        "required": ["color"],
    }
    color = await ctx.elicit("Step 2: What is your favorite color?", color_schema, key="step2")
    return f"{(name.content or {}).get('name')} likes {(color.content or {}).get('color')}"


async def test_input_required_result_multiple_inputs(ctx: ToolContext) -> str:
    """Ask three questions in one round: a name, a greeting and the roots."""
    name, greeting, roots = await ctx.gather(
        ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name"),
        ctx.sample("Generate a greeting", max_tokens=50, key="greeting"),
        ctx.list_roots(key="client_roots"),
    )
    return (
        f"{getattr(greeting.content, 'text', '')} {(name.content or {}).get('name')} "
        f"({len(roots)} roots)"
    )


async def test_input_required_result_tampered_state(ctx: ToolContext) -> str:
    """Ask for a confirmation; a tampered request state is refused."""
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    answer = await ctx.elicit("Please confirm", schema, key="confirm")
    return f"confirmed={(answer.content or {}).get('ok')}"


async def test_input_required_result_capabilities(ctx: ToolContext) -> str:
    """Asks only what the client declared it can answer."""
    asks = []
    if ctx.can_sample:
        asks.append(ctx.sample("Say hello", max_tokens=20, key="sample"))
    if ctx.can_elicit:
        asks.append(ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name"))
    answers = await ctx.gather(*asks)
    return f"{len(answers)} answers"


async def ask_name(greeting: str, ctx: ToolContext) -> dict:
    """Log, ask the user's name, then the model for a compliment: this suite's round trip."""
    await ctx.log("info", f"asking for a name to greet with {greeting!r}")
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA)
    if answer.action != "accept":
        return {"greeting": None, "action": answer.action}
    name = answer.content["name"]
    await ctx.log("debug", "got a name", data={"name": name})
    compliment = await ctx.sample(f"Compliment {name} in five words.", max_tokens=30)
    return {
        "greeting": f"{greeting}, {name}!",
        "compliment": getattr(compliment.content, "text", ""),
        "model": compliment.model,
    }


async def ask_in_a_hurry(ctx: ToolContext) -> str:
    """Ask the user's name, with a second to get it (this suite's: a question outlived by its
    call's timeout)."""
    answer = await ctx.elicit("What is your name, quickly?", NAME_SCHEMA)
    return f"got {answer.action}"


async def test_input_required_result_prompt(ctx: ToolContext) -> str:
    """A prompt that asks the user for its context first."""
    schema = {
        "type": "object",
        "properties": {"context": {"type": "string"}},
        "required": ["context"],
    }
    answer = await ctx.elicit("What context should the prompt use?", schema, key="user_context")
    return f"Answer with this context in mind: {(answer.content or {}).get('context')}"


TOOLS = [
    test_tool_with_logging,
    test_logging_tool,
    test_sampling,
    test_elicitation,
    test_elicitation_sep1034_defaults,
    test_elicitation_sep1330_enums,
    test_missing_capability,
    test_streaming_elicitation,
    test_input_required_result_elicitation,
    test_input_required_result_sampling,
    test_input_required_result_list_roots,
    test_input_required_result_request_state,
    test_input_required_result_multi_round,
    test_input_required_result_multiple_inputs,
    test_input_required_result_tampered_state,
    test_input_required_result_capabilities,
    ask_name,
    ask_in_a_hurry,
]
NAMES = [func.__name__ for func in TOOLS]
METADATA = {"ask_in_a_hurry": {"timeout_seconds": 1.0}}


def register_all() -> None:
    for func in TOOLS:
        register(func, category="testing", **METADATA.get(func.__name__, {}))
    register_prompt(test_input_required_result_prompt)


def unregister_all() -> None:
    for name in NAMES:
        unregister(name)
    unregister_prompt("test_input_required_result_prompt")


register_all()
