"""API tokens in the admin: the secret is shown once, on creation."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.access import services
from apps.access.models import ApiToken
from apps.access.principals import ALL_SCOPES


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ALL_SCOPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ("name", "scopes", "allowed_tools", "toolsets", "expires_at", "revoked")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = (
        "name",
        "prefix",
        "scopes",
        "allowed_tools",
        "expires_at",
        "last_used_at",
        "revoked",
        "created_by",
    )
    list_filter = ("revoked", "toolsets")
    filter_horizontal = ("toolsets",)
    list_editable = ("revoked",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "last_used_at", "created_by", "created_at")
    list_select_related = ("created_by",)
    actions = ("revoke",)

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            obj.save()
            return
        _, secret = services.create_api_token(
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            allowed_tools=obj.allowed_tools,
            expires_at=obj.expires_at,
            created_by=request.user,
            token=obj,
        )
        self.message_user(
            request,
            f"Token created. Copy it now, it is not shown again: {secret}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        # Not a bulk update: that would leave the revoked tokens in every process's cache.
        count = services.revoke_api_tokens(tokens=queryset)
        self.message_user(request, f"Revoked {count} tokens.", messages.SUCCESS)
