"""Revoke a user's JWTs when the password changes or the user is deactivated."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

REVOKING_FIELDS = {"password", "is_active"}


def _note_revocation(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    instance._revoke_tokens = False
    if instance.pk is None or (
        update_fields is not None and not REVOKING_FIELDS & set(update_fields)
    ):
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    instance._revoke_tokens = before["password"] != instance.password or (
        before["is_active"] and not instance.is_active
    )


def _revoke(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, "_revoke_tokens", False):
        from apps.access.services import revoke_user_tokens

        revoke_user_tokens(user=instance)
        instance._revoke_tokens = False


def connect() -> None:
    User = get_user_model()
    pre_save.connect(_note_revocation, sender=User, dispatch_uid="access_note_revocation")
    post_save.connect(_revoke, sender=User, dispatch_uid="access_revoke_tokens")
