from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self) -> None:
        """Plug the carriers into the layers below, which never import a transport."""
        from agents.admin import CARRIER_WEBHOOK_URLS
        from agents.wiring import CONNECTORS
        from engine import builtins

        from . import tools
        from .plivo import wiring as plivo_wiring
        from .plivo.views import webhook_urls as plivo_urls
        from .twilio import wiring as twilio_wiring
        from .twilio.views import webhook_urls as twilio_urls

        # The caller hears "I have sent it" after the current sentence.
        builtins.register("send_sms", tools.send_sms, scheduling="WHEN_IDLE")
        CARRIER_WEBHOOK_URLS.update(twilio=twilio_urls, plivo=plivo_urls)
        # "Connect to Twilio / Plivo" on a number's admin page.
        CONNECTORS.update(twilio=twilio_wiring.CONNECTOR, plivo=plivo_wiring.CONNECTOR)
