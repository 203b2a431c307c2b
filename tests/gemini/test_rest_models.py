"""models.list and models.get, which real clients call at start, through the real SDK; unknown paths
and methods answered with the service's 404 error JSON."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from google import genai
from google.genai import errors


def test_models_list_names_the_live_and_text_models(emulator):
    client = emulator.client()  # kept: a Client closes its HTTP session when collected
    models = {m.name: m for m in client.models.list()}
    live = models["models/gemini-3.8-live"]
    assert live.display_name == "Gemini 3.8 Live"
    assert live.supported_actions == ["bidiGenerateContent"]
    assert (live.input_token_limit, live.output_token_limit) == (131_072, 65_536)
    assert (
        "bidiGenerateContent"
        in models["models/gemini-2.5-flash-native-audio-preview-12-2025"].supported_actions
    )
    text = models["models/gemini-2.5-flash"]
    assert "generateContent" in text.supported_actions
    assert "bidiGenerateContent" not in text.supported_actions
    assert text.input_token_limit == 1_048_576


async def test_models_get_one_model_and_unknown_ones(emulator):
    client = emulator.client()
    model = await client.aio.models.get(model="gemini-3.8-live-extended-thinking")
    assert model.name == "models/gemini-3.8-live-extended-thinking"
    assert model.supported_actions == ["bidiGenerateContent"]
    assert model.output_token_limit == 65_536
    with pytest.raises(errors.ClientError) as info:
        await client.aio.models.get(model="gemini-0-nothing")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    bad = genai.Client(api_key="wrong", http_options=emulator.http_options())
    with pytest.raises(errors.ClientError) as info:
        bad.models.list()
    assert info.value.code == 400 and "API key not valid" in str(info.value)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1beta/cachedContents"),
        ("GET", "/v1beta/models/gemini-2.5-flash/extra"),
        ("POST", "/v1beta/models/gemini-2.5-flash:bogusMethod"),
        ("DELETE", "/v1beta/models/gemini-2.5-flash"),
    ],
)
def test_unknown_paths_and_methods_get_the_404_error_json(emulator, method, path):
    request = urllib.request.Request(
        emulator.base_url + path, method=method, headers={"x-goog-api-key": emulator.api_key}, data=b"{}"
    )
    context = ssl.create_default_context(cafile=emulator.ca_file)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, context=context, timeout=30)
    assert info.value.code == 404
    assert json.loads(info.value.read()) == {
        "error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}
    }
