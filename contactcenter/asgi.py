"""ASGI entry point: HTTP through Django, WebSockets (carrier media streams, live dashboard) through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from contactcenter.routing import websocket_urlpatterns  # noqa: E402
from engine.warmup import warm_up  # noqa: E402

warm_up()  # the engine's one-time costs now, not on the loop during this process's first call

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
