from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns and callbacks"

    def ready(self) -> None:
        """Plug campaigns into the layers below, which never import it."""
        from calls import housekeeping
        from calls.signals import call_finished
        from engine import builtins

        from . import scheduler, tools

        # A confirmation of the time agreed, told after the current sentence.
        builtins.register("schedule_callback", tools.schedule_callback, scheduling="WHEN_IDLE")
        call_finished.connect(scheduler.on_call_finished, dispatch_uid="campaigns.settle")
        housekeeping.register("scheduler tick", scheduler.tick)
