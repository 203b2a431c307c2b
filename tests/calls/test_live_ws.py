"""The live-calls WebSocket on the real daphne server: staff get snapshots, others are refused."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from .conftest import make_call


def session_cookie(server, username: str) -> str:
    with httpx.Client(base_url=server.url) as http:
        http.get("/accounts/login/")
        response = http.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": "correct horse battery",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
            headers={"Referer": f"{server.url}/accounts/login/"},
        )
        assert response.status_code == 302
        return http.cookies["sessionid"]


@pytest.mark.django_db(transaction=True)
async def test_staff_receive_live_calls_and_others_are_refused(daphne_server, staff_user, plain_user, agent):
    staff_session = await sync_to_async(session_cookie)(daphne_server, "staff")
    clerk_session = await sync_to_async(session_cookie)(daphne_server, "clerk")
    url = f"{daphne_server.ws_url}/ws/live/"
    origin = daphne_server.url

    for headers in ({}, {"Cookie": f"sessionid={clerk_session}"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, origin=origin, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403

    # A page from another site cannot open it with a staff cookie either.
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            url, origin="https://evil.example", additional_headers={"Cookie": f"sessionid={staff_session}"}
        ):
            pass

    cookie = {"Cookie": f"sessionid={staff_session}"}
    async with asyncio.timeout(20), websockets.connect(url, origin=origin, additional_headers=cookie) as ws:
        assert json.loads(await ws.recv()) == {"type": "live_calls", "calls": []}
        call = await sync_to_async(make_call)(agent=agent, status="ringing", transcript=False)
        message = json.loads(await ws.recv())
        assert [c["id"] for c in message["calls"]] == [str(call.pk)]
        assert message["calls"][0]["status"] == "ringing" and message["calls"][0]["agent"] == "Support"
