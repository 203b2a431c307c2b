"""The call-history filter form, shared by the dashboard, the CSV export and the JSON API."""

from __future__ import annotations

from django import forms

from agents.models import Agent, Carrier
from calls.models import Call

from . import queries


def _blank(choices) -> list[tuple[str, str]]:
    return [("", "Any")] + [(value, label) for value, label in choices]


class CallFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        help_text="A number, or words said on the call or in its summary (as a phrase).",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "number or words said"}),
    )
    agent = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    carrier = forms.ChoiceField(required=False, choices=_blank(Carrier.choices))
    direction = forms.ChoiceField(required=False, choices=_blank(Call.Direction.choices))
    status = forms.ChoiceField(required=False, choices=_blank(Call.Status.choices))
    outcome = forms.ChoiceField(required=False)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [("", "Any"), ("problems", "Problems (any below)")] + [
            (key, label) for key, (label, _) in queries.OUTCOMES.items()
        ]
        # One query for the agent list; ChoiceField validates against it without another.
        self.fields["agent"].choices = [("", "Any")] + [
            (str(pk), name) for pk, name in Agent.objects.order_by("name").values_list("pk", "name")
        ]

    def filters(self) -> dict:
        """The cleaned filters (invalid fields are dropped, so a bad value never breaks the page)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {key: value for key, value in data.items() if value not in (None, "")}
