"""DRF authentication by API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from ragsite.apikeys.models import APIKey
from ragsite.apikeys.services import api_key_find, api_key_touch


def presented_key(request: Request) -> str | None:
    """The key a request carries, if any. An Authorization header of another scheme (Basic, say) is not ours."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        if not credentials.strip():
            raise AuthenticationFailed("The Authorization header names no key: send `Authorization: Bearer <key>`")
        return credentials.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


class APIKeyAuthentication(BaseAuthentication):
    """Finds the request's key. A wrong or revoked key is a 401 even where keys are optional: a client sending
    one expects it to count, and silently serving it anonymously would hide the mistake.

    request.auth is the APIKey (request.user stays None); the key's prefix goes on the Django request as
    `api_key_prefix`, for the request log.
    """

    def authenticate(self, request: Request) -> tuple[None, APIKey] | None:
        token = presented_key(request)
        if token is None:
            return None
        api_key = api_key_find(token=token)
        if api_key is None:
            raise AuthenticationFailed("Invalid API key")
        request._request.api_key_prefix = api_key.prefix  # type: ignore[attr-defined]
        if api_key.is_revoked:
            raise AuthenticationFailed("This API key has been revoked")
        api_key_touch(api_key=api_key)
        return None, api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when no key was sent.
        return 'Bearer realm="ragsite"'
