"""A toolset's change is a change of what bound tokens may use and of what its endpoint lists:
drop every process's cached principals and tell MCP clients their tool list changed."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.access.models import ApiToken
from apps.access.principal_cache import bump_access_version
from apps.tools.signals import catalogue_changed
from apps.toolsets.models import Toolset, ToolsetMember


def _changed(sender: Any, instance: Any = None, **kwargs: Any) -> None:
    # In the change's transaction (the routing version's bump insists on one): a save made in
    # autocommit (a shell) gets its own.
    with transaction.atomic():
        bump_access_version()
        catalogue_changed.send(sender=Toolset, reason=f"toolset {instance} changed")


def _bound(sender: Any, instance: Any = None, action: str = "", **kwargs: Any) -> None:
    if action.startswith("post_"):  # once the binding rows are written
        _changed(sender, instance)


def connect() -> None:
    for model in (Toolset, ToolsetMember):
        uid = f"toolsets.changed.{model._meta.label}"
        post_save.connect(_changed, model, dispatch_uid=uid)
        post_delete.connect(_changed, model, dispatch_uid=uid)
    m2m_changed.connect(_bound, ApiToken.toolsets.through, dispatch_uid="toolsets.bound")
    m2m_changed.connect(
        _bound, Toolset.oauth_clients.through, dispatch_uid="toolsets.bound_oauth_clients"
    )
