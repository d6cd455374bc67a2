"""Which scope each request needs. Views declare `required_scopes = {"GET": "read", "DELETE": "write", …}`; a
method a view does not list needs `admin`, so a new endpoint is closed until it says otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ragsite.apikeys.models import APIKey

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView

READ, WRITE, ADMIN = APIKey.Scope.READ, APIKey.Scope.WRITE, APIKey.Scope.ADMIN


def required_scope(view: APIView, method: str) -> str:
    scopes: dict[str, str] = getattr(view, "required_scopes", {})
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    return scopes.get(method, ADMIN)


class HasAPIKeyScope(BasePermission):
    """A key must have the scope the view asks for; without a key, the request passes only when API_AUTH is
    optional (DRF then answers 401 NotAuthenticated, since no authenticator succeeded)."""

    message = "This API key's scope does not allow this request"

    def has_permission(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, APIKey):
            return settings.API_AUTH == "optional"
        needed = required_scope(view, request.method or "GET")
        if api_key.allows(needed):
            return True
        self.message = f"This API key has the {api_key.scope} scope; {request.method} {request.path} needs {needed}"
        return False
