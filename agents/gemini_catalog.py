"""What Gemini Live offers: models, voices, VAD enums. Facts from `reference/gemini-live.md` §7."""

LIVE_MODELS = [
    ("gemini-2.5-flash-native-audio-preview-12-2025", "Gemini 2.5 Flash native audio (12-2025)"),
    ("gemini-2.5-flash-native-audio-preview-09-2025", "Gemini 2.5 Flash native audio (09-2025)"),
    ("gemini-2.5-flash-native-audio-latest", "Gemini 2.5 Flash native audio (latest alias)"),
    ("gemini-3.1-flash-live-preview", "Gemini 3.1 Flash Live (legacy preview)"),
    ("gemini-3.8-live", "Gemini 3.8 Live"),
    ("gemini-live-2.5-flash-native-audio", "Vertex AI: Gemini Live 2.5 Flash native audio"),
]
DEFAULT_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"

VOICES = [
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
    "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
    "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi",
    "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
]  # fmt: skip
DEFAULT_VOICE = "Puck"

START_SENSITIVITY = [
    ("START_SENSITIVITY_HIGH", "High (reacts to quiet speech)"),
    ("START_SENSITIVITY_LOW", "Low"),
]
END_SENSITIVITY = [("END_SENSITIVITY_HIGH", "High (ends the turn sooner)"), ("END_SENSITIVITY_LOW", "Low")]
