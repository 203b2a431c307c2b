"""Browser test calls: staff talk to an agent with the microphone, over a WebSocket of 16 kHz PCM.

`port` (engine commands -> WebSocket messages), `consumer` (WebSocket -> engine), `views` (the
test-call page), `urls` (HTTP and WebSocket routes). The page's script is `static/browser/call.js`.
"""
