"""The compatibility shim: legacy tool modules register unchanged.

A legacy tool is a public `def` or `async def` with keyword parameters that returns a dict,
usually `{"status": "success", ...}` or `{"status": "error", "error": "..."}`. The shim wraps it
so that an error dict becomes a tool error (`isError: true`; the legacy server always said
false), and registers it under its function name in the category its package names
(`tools/dataset_tools/load.py` → category `dataset_tools`), so the legacy dotted name
`dataset_tools.load_dataset` resolves too. A legacy `_mcp_metadata` (the legacy plan's
ToolMetadata, as an object or a dict) supplies runtime, priority, timeout and the rest.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import pkgutil
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from apps.tools import registry
from apps.tools.call_service import ToolResult
from apps.tools.models import Outcome

logger = logging.getLogger(__name__)

DEFAULT_CATEGORY = "general"
# ToolMetadata fields of the legacy plan and the platform metadata each became.
LEGACY_METADATA = {
    "runtime": "runtime",
    "requires_p2p": "requires_p2p",
    "category": "category",
    "priority": "priority",
    "timeout_seconds": "timeout_seconds",
    "retry_policy": "retry_policy",
    "memory_intensive": "memory_intensive",
    "cpu_intensive": "cpu_intensive",
    "io_intensive": "io_intensive",
    "mcp_description": "description",
    "schema_version": "schema_version",
    "deprecated": "deprecated",
    "deprecation_message": "deprecation_message",
}
SHIM_MARK = "__mcp_platform_legacy_tool__"


def legacy_result(value: Any) -> Any:
    """A legacy `{"status": "error", ...}` dict as an error result; anything else unchanged."""
    if isinstance(value, dict) and str(value.get("status", "")).lower() == "error":
        message = value.get("error") or value.get("message") or "the tool reported an error"
        structured = json.loads(json.dumps(value, default=str))
        return ToolResult(
            content=[{"type": "text", "text": str(message)}],
            structured_content=structured,
            is_error=True,
            outcome=Outcome.ERROR,
        )
    return value


def wrap_legacy_function(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function with its signature kept (the input schema comes from it) and its result
    passed through `legacy_result`."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return legacy_result(await func(*args, **kwargs))

    else:

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            return legacy_result(func(*args, **kwargs))

    # The legacy return annotation must not become an output schema: error results are not it.
    call.__annotations__ = {
        key: value for key, value in getattr(func, "__annotations__", {}).items() if key != "return"
    }
    setattr(call, SHIM_MARK, True)
    return call


def _legacy_metadata(func: Callable[..., Any]) -> dict[str, Any]:
    declared = getattr(func, "_mcp_metadata", None)
    if declared is None:
        return {}
    read = declared.get if isinstance(declared, dict) else lambda key: getattr(declared, key, None)
    metadata = {}
    for legacy, ours in LEGACY_METADATA.items():
        value = read(legacy)
        if value is None:
            continue
        metadata[ours] = getattr(value, "value", value)  # legacy enums carry `.value`
    name = read("name")
    if name:
        metadata["name"] = str(name)
    return metadata


def _same_function(registered: Callable[..., Any], func: Callable[..., Any]) -> bool:
    """True when `registered` is the shim's wrapper of `func` (discovery may run twice)."""
    wrapped = getattr(registered, "__wrapped__", None)
    return getattr(registered, SHIM_MARK, False) and (
        getattr(wrapped, "__module__", None),
        getattr(wrapped, "__qualname__", None),
    ) == (func.__module__, func.__qualname__)


def register_legacy_function(
    func: Callable[..., Any], *, category: str
) -> registry.ToolSpec | None:
    """Register one legacy function; on a name clash the dotted `category.name` is used."""
    metadata = {"category": category, **_legacy_metadata(func)}
    name = metadata.pop("name", func.__name__)
    existing = registry.get_spec(name)
    if existing is not None and not _same_function(existing.func, func):
        dotted = f"{metadata['category']}.{name}"
        logger.warning(
            "legacy tool %r clashes with a registered tool; registering it as %r", name, dotted
        )
        name = dotted
    try:
        return registry.register(wrap_legacy_function(func), name=name, **metadata)
    except (registry.ToolDefinitionError, TypeError, NameError) as exc:
        logger.error("legacy tool %s.%s not registered: %s", func.__module__, func.__name__, exc)
        return None


def public_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """The module's `__all__`, or its public functions defined in it (not imported into it)."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        candidates = [getattr(module, name, None) for name in exported]
    else:
        candidates = [value for name, value in vars(module).items() if not name.startswith("_")]
    return [
        value
        for value in candidates
        if inspect.isfunction(value) and value.__module__ == module.__name__
    ]


def _modules_of(name: str) -> list[tuple[ModuleType, str]]:
    """The module `name` and, for a package, every module inside it, each with its category."""
    root = importlib.import_module(name)
    found = [(root, getattr(root, "TOOL_CATEGORY", DEFAULT_CATEGORY))]
    if not hasattr(root, "__path__"):
        return found
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{name}."):
        try:
            module = importlib.import_module(info.name)
        except Exception:
            logger.exception("legacy tool module %r failed to import", info.name)
            continue
        relative = info.name[len(name) + 1 :].split(".")
        # tools/<category>/<tool>.py: the subpackage is the category; a top-level module is not.
        category = relative[0] if len(relative) > 1 or info.ispkg else DEFAULT_CATEGORY
        found.append((module, getattr(module, "TOOL_CATEGORY", category)))
    return found


def register_legacy_modules(names: Iterable[str]) -> list[registry.ToolSpec]:
    """Register every public function of the named legacy modules or packages.

    A module that fails to import is logged, not fatal (as for MCP_PLATFORM_TOOL_MODULES).
    """
    specs = []
    for name in names:
        try:
            modules = _modules_of(name)
        except Exception:
            logger.exception(
                "legacy tool module %r from MCP_PLATFORM_LEGACY_TOOL_MODULES failed", name
            )
            continue
        for module, category in modules:
            for func in public_functions(module):
                spec = register_legacy_function(func, category=category)
                if spec is not None:
                    specs.append(spec)
    return specs
