"""API access: `Authorization: Bearer <token>` with an active ApiToken, or a signed-in staff session.

No credentials → 401 (with WWW-Authenticate); an unknown token → 401; a revoked token → 403.

API views are `csrf_exempt` because a Bearer token is not sent by browsers on their own. A session
cookie is, so a session-authenticated POST (or other unsafe method) must pass Django's CSRF check
here; otherwise any site a staff member visits could place calls with a cross-site form post.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from . import tokens


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, returning the failure reason instead of a 403 page."""

    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _csrf_failure(request: HttpRequest) -> str | None:
    """Why a session-authenticated request fails CSRF, or None when it passes (safe methods do)."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)  # reads the CSRF cookie into request.META
    return check.process_view(request, None, (), {})


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
            reason = _csrf_failure(request)
            if reason is not None:
                return _error(
                    403, f"CSRF check failed ({reason}): send the X-CSRFToken header, or use a Bearer token."
                )
            return view(request, *args, **kwargs)
        return _error(401, "An API token is required (create one in the admin: API tokens).")

    return wrapper
