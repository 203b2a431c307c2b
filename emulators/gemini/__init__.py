"""A faithful offline emulator of the Gemini Live API (BidiGenerateContent) for the real google-genai SDK.

See docs/gemini-emulator.md. Tests start it with emulators.gemini.testing.start_in_thread().
"""
