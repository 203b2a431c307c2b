"""Run as a separate process: hand one store_call payload to Celery the way the engine does.

`python -m tests.calls.enqueue_payload payload.json` prints "sent" or "spooled".
"""

from __future__ import annotations

import asyncio
import json
import sys

import django


def main(path: str) -> None:
    django.setup()
    from calls.jobs import enqueue
    from calls.tasks import store_call

    payload = json.loads(open(path).read())
    result = asyncio.run(enqueue(store_call, payload))
    print("spooled" if result is None else "sent", flush=True)


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
    main(sys.argv[1])
