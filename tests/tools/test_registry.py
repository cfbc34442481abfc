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
