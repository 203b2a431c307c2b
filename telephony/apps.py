from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self) -> None:
        """Plug the carriers into the layers below, which never import a transport."""
        from agents.admin import CARRIER_WEBHOOK_URLS
        from engine import builtins

        from . import tools
        from .plivo.views import webhook_urls as plivo_urls
        from .twilio.views import webhook_urls as twilio_urls

        # The caller hears "I have sent it" after the current sentence.
        builtins.register("send_sms", tools.send_sms, scheduling="WHEN_IDLE")
        CARRIER_WEBHOOK_URLS.update(twilio=twilio_urls, plivo=plivo_urls)
