"""Scheduled outbound work: callbacks the agents promised and campaign dialling, from database rows.

`tick()` is the only thing that places scheduled calls. Celery beat runs it in production
(`tick_task`, every 10 s) and `manage.py housekeeping --loop` in embedded mode; nothing fires when a
row is written, so eager Celery does not dial at once. Every row is claimed by a conditional UPDATE
(`... WHERE status='pending'`, after `SELECT ... FOR UPDATE SKIP LOCKED` where the database has it),
so two ticks, two beat processes or a redelivered task never place the same call twice.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls.models import Call
from telephony.outbound import OutboundError, place_call

from .models import Campaign, CampaignContact, ScheduledCallback

log = logging.getLogger(__name__)

BATCH = 50  # rows claimed per kind per tick
# A dialled call that never reported back (lost callbacks) is given up after this long.
STALE_RINGING = timedelta(minutes=10)


@dataclass
class TickResult:
    callbacks_placed: int = 0
    campaign_calls: int = 0
    contacts_settled: int = 0
    campaigns_done: int = 0


def _claim(queryset: QuerySet, from_status: str, limit: int, **changes) -> list[int]:
    """Ids of up to `limit` rows of `queryset` (all in `from_status`) moved out of it by this process."""
    if limit <= 0:
        return []
    model = queryset.model
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            queryset = queryset.select_for_update(skip_locked=True)
        candidates = list(queryset.values_list("pk", flat=True)[:limit])
        return [
            pk for pk in candidates if model.objects.filter(pk=pk, status=from_status).update(**changes) == 1
        ]


# --- callbacks ---------------------------------------------------------------------------------------
def _place_callbacks(now: datetime) -> int:
    due = ScheduledCallback.objects.filter(status=ScheduledCallback.Status.PENDING, due_at__lte=now).order_by(
        "due_at", "id"
    )
    placed = 0
    for pk in _claim(due, ScheduledCallback.Status.PENDING, BATCH, status=ScheduledCallback.Status.CALLING):
        callback = ScheduledCallback.objects.select_related("agent").get(pk=pk)
        variables = {**callback.context, "callback_note": callback.note, "_callback_id": callback.pk}
        try:
            call = place_call(
                callback.agent, callback.carrier, callback.number, callback.from_number, variables
            )
        except OutboundError as exc:
            log.warning("scheduler: callback %s to %s failed: %s", pk, callback.number, exc.message)
            ScheduledCallback.objects.filter(pk=pk).update(
                status=ScheduledCallback.Status.FAILED, error=exc.message[:200]
            )
            continue
        ScheduledCallback.objects.filter(pk=pk).update(status=ScheduledCallback.Status.DONE, call=call)
        placed += 1
        log.info("scheduler: callback %s placed as call %s", pk, call.pk)
    return placed


# --- campaigns ---------------------------------------------------------------------------------------
def _within_hours(campaign: Campaign, now: datetime) -> bool:
    start, end = campaign.calling_hours_start, campaign.calling_hours_end
    if start is None or end is None:
        return True
    local = timezone.localtime(now).time()
    return start <= local < end if start <= end else (local >= start or local < end)


def contact_outcome(call: Call) -> str:
    """What a finished call means for its campaign contact."""
    if call.status == Call.Status.BUSY:
        return CampaignContact.Status.BUSY
    if call.status == Call.Status.NO_ANSWER:
        return CampaignContact.Status.NO_ANSWER
    if call.status in (Call.Status.FAILED, Call.Status.REFUSED):
        return CampaignContact.Status.FAILED
    if (call.variables or {}).get("_answered_by") == "machine" or call.end_reason.startswith("voicemail"):
        return CampaignContact.Status.VOICEMAIL
    return CampaignContact.Status.COMPLETED


RETRIED = (CampaignContact.Status.BUSY, CampaignContact.Status.NO_ANSWER, CampaignContact.Status.FAILED)


def _settle(contact: CampaignContact, now: datetime) -> bool:
    """Move a `calling` contact whose call is over to its outcome (or back to pending for a retry)."""
    call = contact.last_call
    if call is None or call.status in Call.LIVE_STATUSES:
        if call is not None and call.status == Call.Status.RINGING and call.started_at < now - STALE_RINGING:
            Call.objects.filter(pk=call.pk, status=Call.Status.RINGING).update(
                status=Call.Status.NO_ANSWER, ended_at=now, end_reason="no report from the carrier"
            )
            call.refresh_from_db()
        else:
            return False
    outcome = contact_outcome(call)
    campaign = contact.campaign
    changes: dict = {"last_result": f"{outcome}: {call.end_reason}"[:200]}
    if outcome in RETRIED and contact.attempts < campaign.max_attempts:
        changes.update(
            status=CampaignContact.Status.PENDING,
            next_attempt_at=now + timedelta(minutes=campaign.retry_delay_minutes),
        )
    else:
        changes["status"] = outcome
    return (
        CampaignContact.objects.filter(
            pk=contact.pk, status=CampaignContact.Status.CALLING, last_call=call
        ).update(**changes)
        == 1
    )


def settle_call(call_id, now: datetime | None = None) -> int:
    """Settle the campaign contact of one call (status callbacks call this; the tick does it too)."""
    now = now or timezone.now()
    contacts = CampaignContact.objects.select_related("campaign", "last_call").filter(
        last_call_id=call_id, status=CampaignContact.Status.CALLING
    )
    return sum(_settle(contact, now) for contact in contacts)


def _settle_all(now: datetime) -> int:
    calling = CampaignContact.objects.select_related("campaign", "last_call").filter(
        status=CampaignContact.Status.CALLING,
        campaign__status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED],
    )
    return sum(_settle(contact, now) for contact in calling)


def _campaign_variables(campaign: Campaign, contact: CampaignContact) -> dict:
    variables = {**contact.fields, "_campaign_id": campaign.pk, "_contact_id": contact.pk}
    if campaign.greeting:
        variables["_greeting"] = campaign.greeting
    if campaign.voicemail_message:
        variables["_voicemail"] = campaign.voicemail_message
    return variables


def _dial_campaign(campaign: Campaign, now: datetime) -> int:
    contacts = campaign.contacts
    in_flight = contacts.filter(status=CampaignContact.Status.CALLING).count()
    recent = contacts.filter(last_call__started_at__gte=timezone.now() - timedelta(seconds=60)).count()
    budget = min(campaign.max_simultaneous - in_flight, campaign.calls_per_minute - recent, BATCH)
    due = (
        contacts.filter(status=CampaignContact.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("next_attempt_at", "id")
    )
    claimed = _claim(
        due,
        CampaignContact.Status.PENDING,
        budget,
        status=CampaignContact.Status.CALLING,
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )
    placed = 0
    for pk in claimed:
        contact = CampaignContact.objects.select_related("campaign").get(pk=pk)
        try:
            place_call(
                campaign.agent,
                campaign.carrier,
                contact.number,
                campaign.from_number,
                _campaign_variables(campaign, contact),
                on_created=lambda call, pk=pk: CampaignContact.objects.filter(pk=pk).update(last_call=call),
                detect_machines=campaign.detect_machines,
            )
            placed += 1
        except OutboundError as exc:
            log.warning("scheduler: campaign %s, %s: %s", campaign.pk, contact.number, exc.message)
            contact.refresh_from_db()
            if contact.last_call is None:  # refused before a Call existed (bad number): final
                CampaignContact.objects.filter(pk=pk, status=CampaignContact.Status.CALLING).update(
                    status=CampaignContact.Status.FAILED, last_result=exc.message[:200]
                )
            else:
                _settle(contact, now)
    return placed


def _finish_campaigns() -> int:
    open_statuses = [CampaignContact.Status.PENDING, CampaignContact.Status.CALLING]
    finished = Campaign.objects.filter(status=Campaign.Status.RUNNING).exclude(
        contacts__status__in=open_statuses
    )
    return Campaign.objects.filter(
        pk__in=list(finished.values_list("pk", flat=True)), status=Campaign.Status.RUNNING
    ).update(status=Campaign.Status.DONE, finished_at=timezone.now())


def tick(now: datetime | None = None) -> TickResult:
    """One pass: settle finished campaign calls, place due callbacks and campaign calls, close campaigns."""
    now = now or timezone.now()
    result = TickResult()
    result.contacts_settled = _settle_all(now)
    result.callbacks_placed = _place_callbacks(now)
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING).select_related("agent"):
        if _within_hours(campaign, now):
            result.campaign_calls += _dial_campaign(campaign, now)
    result.campaigns_done = _finish_campaigns()
    if result.callbacks_placed or result.campaign_calls or result.campaigns_done:
        log.info("scheduler: %s", result)
    return result


@shared_task(name="campaigns.scheduler.tick_task", acks_late=True)
def tick_task() -> dict:
    return asdict(tick())


def on_call_finished(sender, call_id, **kwargs) -> None:
    """`calls.signals.call_finished`: settle the campaign contact of a call that just ended."""
    settle_call(call_id)
