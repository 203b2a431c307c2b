from django.apps import AppConfig


class EmulatorsConfig(AppConfig):
    """Offline stand-ins for Gemini, Twilio, Plivo and Asterisk, each started by a management command."""

    name = "emulators"
    verbose_name = "Emulators"
