"""Admin pieces shared by the apps."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """For records the platform writes and admins only read (call log, heartbeats, jobs):
    every field read-only, no add, no change. `readonly_extra` names computed fields."""

    readonly_extra: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + list(self.readonly_extra)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
