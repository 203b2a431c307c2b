from tests.tools.carriers import (  # noqa: F401  (fixtures)
    ari_settings,
    here,
    plivo_emu,
    tool_agent,
    tools_asterisk,
    tools_gemini,
    tools_runasterisk,
    tools_server,
    twilio_emu,
)
