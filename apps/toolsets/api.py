"""/api/v2/toolsets: toolsets created, read, edited and deleted. Thin: services and selectors."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from apps.access.principals import SCOPE_ADMIN, SCOPE_READ
from apps.toolsets import selectors, services
from apps.toolsets.models import Toolset
from mcp_platform.errors import ApiError, invalid_input, require_scope

router = Router(tags=["toolsets"])


class MemberIn(Schema):
    tool: str = Field(description="A tool name, or a glob over names")
    display_name: str = ""
    description: str = ""


class ToolsetIn(Schema):
    slug: str
    title: str
    description: str = ""
    tools: list[str | MemberIn] = Field(default_factory=list)


class ToolsetPatchIn(Schema):
    title: str | None = None
    description: str | None = None
    tools: list[str | MemberIn] | None = None


class MemberOut(Schema):
    tool: str
    display_name: str
    description: str


class ResolvedToolOut(Schema):
    name: str
    title: str
    description: str


class ToolsetOut(Schema):
    slug: str
    title: str
    description: str
    endpoint: str
    members: list[MemberOut]
    tools: list[ResolvedToolOut]


class ToolsetListOut(Schema):
    items: list[ToolsetOut]
    count: int


def _out(toolset: Toolset, principal) -> dict:
    return {
        "slug": toolset.slug,
        "title": toolset.title,
        "description": toolset.description,
        "endpoint": f"/mcp/{toolset.slug}",
        "members": list(toolset.members.all()),
        "tools": [
            {"name": r.tool.name, "title": r.title, "description": r.description}
            for r in selectors.resolved_tools(toolset, principal=principal)
        ],
    }


def _entries(tools: list | None) -> list | None:
    if tools is None:
        return None
    return [entry if isinstance(entry, str) else entry.dict() for entry in tools]


def _found(slug: str) -> Toolset:
    toolset = selectors.find_toolset(slug)
    if toolset is None:
        raise ApiError(f"Toolset '{slug}' not found", 404)
    return toolset


@router.get("", response=ToolsetListOut)
def list_toolsets(request: HttpRequest, search: str | None = None):
    require_scope(request.auth, SCOPE_READ)
    items = [_out(t, request.auth) for t in selectors.all_toolsets(search=search)]
    return {"items": items, "count": len(items)}


@router.post("", response={201: ToolsetOut})
def create_toolset(request: HttpRequest, payload: ToolsetIn):
    require_scope(request.auth, SCOPE_ADMIN)
    try:
        toolset = services.create_toolset(
            slug=payload.slug,
            title=payload.title,
            description=payload.description,
            tools=_entries(payload.tools),
            actor=request.auth.name,
        )
    except DjangoValidationError as exc:
        raise invalid_input(exc, "toolset") from None
    return Status(201, _out(_found(toolset.slug), request.auth))


@router.get("/{slug}", response=ToolsetOut)
def get_toolset(request: HttpRequest, slug: str):
    require_scope(request.auth, SCOPE_READ)
    return _out(_found(slug), request.auth)


@router.patch("/{slug}", response=ToolsetOut)
def update_toolset(request: HttpRequest, slug: str, payload: ToolsetPatchIn):
    require_scope(request.auth, SCOPE_ADMIN)
    changes = payload.dict(exclude_none=True)
    if "tools" in changes:
        changes["tools"] = _entries(payload.tools)
    try:
        services.update_toolset(toolset=_found(slug), changes=changes, actor=request.auth.name)
    except DjangoValidationError as exc:
        raise invalid_input(exc, f"change to toolset '{slug}'") from None
    return _out(_found(slug), request.auth)


@router.delete("/{slug}", response={204: None})
def delete_toolset(request: HttpRequest, slug: str):
    require_scope(request.auth, SCOPE_ADMIN)
    services.delete_toolset(toolset=_found(slug), actor=request.auth.name)
    return Status(204, None)
