"""Plain HTTP views of the calls app that belong to no page: the load balancer's health and readiness."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

from . import readiness


def health(request):
    """Open to load balancers: 200 when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


def ready(request):
    """Open to the proxy and Kubernetes: 200 while this process takes new calls, 503 once it drains."""
    if readiness.draining():
        return JsonResponse({"status": "draining"}, status=503)
    return health(request)
