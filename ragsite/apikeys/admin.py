"""API keys in the admin: created here (the key is shown once, on the page that follows), revoked by an action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ragsite.apikeys.models import APIKey
from ragsite.apikeys.services import api_key_save_new, api_keys_revoke


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scope", "vault", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "vault", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "scope", "vault"]
        return ["name", "prefix", "scope", "vault", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Kept on the request only until response_add renders it: the key is stored nowhere in clear.
        request._new_api_key = api_key_save_new(api_key=obj)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None) -> HttpResponse:
        """The page after creating a key shows it, once; the usual redirect would have nowhere to keep it."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "secret": request._new_api_key,  # type: ignore[attr-defined]
            "title": "API key created",
        }
        response = TemplateResponse(request, "admin/apikeys/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        revoked = api_keys_revoke(api_keys=queryset)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
