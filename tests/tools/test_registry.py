import re

import pytest

from apps.tools import registry
from apps.tools.registry import ToolContext, ToolDefinitionError, register


@pytest.fixture
def scratch():
    """Register tools for one test only."""
    names = []

    def add(func, **metadata):
        spec = register(func, **metadata)
        names.append(spec.name)
        return spec

    yield add
    for name in names:
        registry.unregister(name)


def test_input_schema_comes_from_type_hints_and_description_from_docstring(scratch):
    def greet(name: str, times: int = 1, ctx: ToolContext | None = None) -> str:
        """Greet someone.

        More text.
        """
        return name * times

    spec = scratch(greet)
    schema = spec.input_schema
    assert schema["properties"]["name"]["type"] == "string"
    assert schema["properties"]["times"] == {"default": 1, "title": "Times", "type": "integer"}
    assert schema["required"] == ["name"]
    assert spec.metadata["description"].startswith("Greet someone.")
    assert spec.output_schema is None
    assert not spec.is_async


def test_context_parameter_is_not_part_of_the_schema(scratch):
    async def slow(seconds: float, ctx: ToolContext) -> dict:
        return {}

    spec = scratch(slow)
    assert spec.context_param == "ctx"
    assert set(spec.input_schema["properties"]) == {"seconds"}
    assert spec.is_async


def test_typed_dict_return_gives_an_output_schema():
    spec = registry.get_spec("calculate")
    assert spec is not None
    assert set(spec.output_schema["properties"]) == {"operation", "a", "b", "result"}


def test_legacy_fastapi_runtime_is_accepted_as_asyncio(scratch):
    def legacy() -> str:
        return "ok"

    assert scratch(legacy, runtime="fastapi").metadata["runtime"] == "asyncio"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"runtime": "gevent"}, "unknown runtime 'gevent'"),
        ({"retry_policy": "sometimes"}, "unknown retry_policy"),
        ({"priority": 11}, "priority must be within 0..10"),
        ({"timeout_seconds": 0}, "timeout_seconds must be positive"),
        ({"colour": "blue"}, "unknown metadata ['colour']"),
        ({"name": "bad name!"}, "does not match"),
    ],
)
def test_bad_metadata_is_refused_with_a_reason(scratch, metadata, message):
    def thing() -> str:
        return ""

    with pytest.raises(ToolDefinitionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        scratch(thing, **metadata)


DIALECT = "https://json-schema.org/draft/2020-12/schema"


def test_a_derived_schema_names_its_dialect(scratch):
    def greet(name: str) -> str:
        return name

    assert scratch(greet).input_schema["$schema"] == DIALECT


def test_a_declared_2020_12_schema_is_kept_as_declared_and_validates_calls(scratch):
    from apps.tools.call_errors import InvalidArguments
    from apps.tools.call_service import validate_arguments

    schema = {
        "type": "object",
        "$defs": {"point": {"$anchor": "pt", "type": "object", "required": ["x"]}},
        "properties": {"at": {"$ref": "#pt"}, "label": {"type": "string"}},
        "if": {"required": ["label"]},
        "then": {"properties": {"label": {"minLength": 2}}},
        "else": {"required": ["at"]},
    }

    def mark(at: dict | None = None, label: str = "") -> dict:
        return {"at": at, "label": label}

    spec = scratch(mark, input_schema=schema)
    assert spec.input_schema == {"$schema": DIALECT, **schema}
    assert validate_arguments(spec, {"at": {"x": 1}}) == {"at": {"x": 1}}
    # The schema allows more properties than the function takes: those are not passed on.
    assert validate_arguments(spec, {"at": {"x": 1}, "other": 2}) == {"at": {"x": 1}}
    for arguments, problem in (
        ({}, "(arguments): 'at' is a required property"),
        ({"at": {}}, "at: 'x' is a required property"),
        ({"label": "a"}, "label: 'a' is too short"),
    ):
        with pytest.raises(InvalidArguments) as refused:
            validate_arguments(spec, arguments)
        assert refused.value.message == f"Invalid arguments for tool 'mark': {problem}"
        assert refused.value.status_code == 422


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/b"}}}, "points at nothing"),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}, "2020-12"),
        ({"type": "array"}, 'must have "type": "object"'),
        ({"type": "object", "properties": {"b": {}}}, "not parameters of the function"),
        ({"type": "object", "properties": {}}, "parameters ['a'] have no default"),
        (
            {"type": "object", "properties": {"a": {"type": "number", "x-mcp-header": "A"}}},
            "x-mcp-header is only permitted on integer/string/boolean",
        ),
    ],
)
def test_an_invalid_declared_schema_is_refused_at_registration(scratch, schema, message):
    def tool_a(a: str) -> str:
        return a

    with pytest.raises(ToolDefinitionError, match=re.escape(message)):
        scratch(tool_a, input_schema=schema)


def test_task_support_must_be_known(scratch):
    def later() -> str:
        return ""

    assert scratch(later).task_support == "optional"
    with pytest.raises(ToolDefinitionError, match="task_support must be one of"):
        scratch(later, task_support="sometimes")


def test_a_tool_that_asks_before_its_task_must_be_allowed_a_task(scratch):
    def later() -> str:
        return ""

    assert scratch(later, task_support="required", asks_before_task=True).metadata[
        "asks_before_task"
    ]
    with pytest.raises(ToolDefinitionError, match="asks_before_task needs a task_support"):
        scratch(later, task_support="forbidden", asks_before_task=True)


def test_continue_as_task_returns_at_once_where_no_task_waits_for_it():
    """Outside a 2026-era call that asks before its task (a job, REST, a 2025 session), the
    call simply goes on."""
    import anyio

    from apps.tools.registry import ToolContext

    anyio.run(ToolContext(None).continue_as_task)
