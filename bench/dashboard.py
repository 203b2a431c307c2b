"""Dashboard at scale: page, deep page, filtered page, overview, CSV and metrics with 100,000 calls.

`python -m bench.dashboard [--calls 100000]` on a throwaway SQLite database; prints milliseconds
per request (median of 5) and the number of SQL queries each one makes.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from agents.models import Agent
    from calls.api import tokens
    from calls.models import Call, CallMetrics
    from tests.calls.test_views import BULK_SQL

    setup_test_environment()  # response.context, and "testserver" as an allowed host
    agent = Agent.objects.create(name="Bench", system_prompt="x", greeting="x")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BULK_SQL["sqlite"], [args.calls, agent.pk])
    with connection.cursor() as cursor:  # metrics for every tenth call, for the overview
        cursor.execute(
            "INSERT INTO calls_callmetrics (call_id, first_response_ms, turns, barge_ins, frames_in, "
            "frames_out, frames_dropped, tool_calls, reconnects, final) SELECT id, 500 + abs(random() % 1000), 3, "
            "abs(random() % 3), 0, 0, 0, 0, 0, 1 FROM calls_call WHERE rowid % 10 = 0"
        )
    # Two transcript lines per call; "blue umbrella" is said on one call in 1,000.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calls_transcriptsegment (call_id, speaker, text, start_ms, end_ms, seq) "
            "SELECT id, 'caller', CASE WHEN rowid % 1000 = 7 THEN 'I left my blue umbrella on the train' "
            "ELSE 'I would like to check on my order ' || rowid END, 0, 2000, 0 FROM calls_call"
        )
        cursor.execute(
            "INSERT INTO calls_transcriptsegment (call_id, speaker, text, start_ms, end_ms, seq) "
            "SELECT id, 'agent', 'Of course, could you give me the order number please?', 2500, 5000, 1 FROM calls_call"
        )
    print(
        f"{Call.objects.count()} calls, {CallMetrics.objects.count()} metrics rows, "
        f"{2 * Call.objects.count()} transcript lines in {time.perf_counter() - started:.1f} s"
    )

    user = get_user_model().objects.create_superuser("bench", "b@example.com", "x" * 12)
    client = Client()
    client.force_login(user)
    token = tokens.mint("bench")[1]
    first = client.get("/calls/").context["page"]
    deep = first.older
    for _ in range(200):  # 200 pages in: the keyset cursor of page 201
        deep = client.get("/calls/", {"before": deep}).context["page"].older

    cases = {
        "history, page 1": ("/calls/", {}),
        "history, page 201": ("/calls/", {"before": deep}),
        "history, carrier=plivo": ("/calls/", {"carrier": "plivo"}),
        "history, search 12345": ("/calls/", {"q": "12345"}),
        "history, said blue umbrella": ("/calls/", {"q": "blue umbrella"}),
        "history, said order number": ("/calls/", {"q": "order number"}),
        "overview, 30 days": ("/overview/", {"days": "30"}),
        "api/calls": ("/api/calls", {}),
        "metrics": ("/metrics", {}),
        "calls.csv (all rows)": ("/calls.csv", {}),
    }
    print(f"{'request':28} {'median ms':>10} {'queries':>8}")
    for label, (url, params) in cases.items():
        timings = []
        for _ in range(5 if "csv" not in label else 1):
            with CaptureQueriesContext(connection) as queries:
                t = time.perf_counter()
                response = client.get(
                    url,
                    params,
                    HTTP_AUTHORIZATION=f"Bearer {token}" if "api" in url or url == "/metrics" else "",
                )
                if response.streaming:
                    b"".join(response.streaming_content)
                timings.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        print(f"{label:28} {statistics.median(timings):10.1f} {len(queries):8d}")


if __name__ == "__main__":
    main()
