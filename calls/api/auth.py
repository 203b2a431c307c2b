"""API access: `Authorization: Bearer <token>` with an active ApiToken, or a signed-in staff session.

No credentials → 401 (with WWW-Authenticate); an unknown token → 401; a revoked token → 403.
"""

from __future__ import annotations

from functools import wraps

from django.http import JsonResponse

from . import tokens


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="contact center"'
    return response


def token_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _error(401, "Use the header Authorization: Bearer <token>.")
            row = tokens.lookup(token.strip())
            if row is None:
                return _error(401, "Unknown API token.")
            if row.revoked_at is not None:
                return _error(403, "This API token was revoked.")
            request.api_token = row
            return view(request, *args, **kwargs)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active and user.is_staff:
            return view(request, *args, **kwargs)
        return _error(401, "An API token is required (create one in the admin: API tokens).")

    return wrapper
