"""Admin for API tokens: staff name a token, see it once, and revoke it later."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from calls.models import ApiToken

from . import tokens


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    fields = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, token = tokens.mint(obj.name, created_by=request.user)
        obj.pk, obj.prefix, obj.token_hash = row.pk, row.prefix, row.token_hash
        obj.created_at, obj.created_by = row.created_at, row.created_by
        messages.warning(
            request,
            f"API token for {row.name}: {token}  Copy it now; it is not stored and will not be shown again. "
            f"Send it as the header: Authorization: Bearer <token>",
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, f"Revoked {count} token(s).")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Keep revoked tokens as an audit trail; revoking is the way to stop one.
        return False
