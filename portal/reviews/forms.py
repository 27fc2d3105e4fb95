from datetime import UTC, datetime, time

from django import forms

from portal.access.models import REASON_MAX_CHARS, AccessRole
from portal.reviews.models import ReviewItem, WhenOverdue
from portal.reviews.services import MAX_EVERY_DAYS

ALL_ROLES = ""
# A due date means the end of that day, in UTC: the time the page says.
DUE_TIME = time(23, 59)


class CampaignStartForm(forms.Form):
    role = forms.ChoiceField(label="Role to review")
    due_on = forms.DateField(
        label="Due date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Reviewers have until 23:59 UTC that day.",
    )
    when_overdue = forms.ChoiceField(
        label="People not decided by the due date",
        choices=WhenOverdue.choices,
        initial=WhenOverdue.KEEP,
        widget=forms.RadioSelect,
    )
    repeat_every_days = forms.IntegerField(
        label="Repeat every (days)",
        required=False,
        min_value=1,
        max_value=MAX_EVERY_DAYS,
        help_text="Optional, one role only: the portal starts the same review again after this many days.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        roles = AccessRole.objects.filter(enabled=True, vault_role_missing=False).order_by("name")
        self.fields["role"].choices = [(ALL_ROLES, "All roles")] + [(role.slug, role.name) for role in roles]

    def due_at(self) -> datetime:
        return datetime.combine(self.cleaned_data["due_on"], DUE_TIME, tzinfo=UTC)

    def role_slug(self) -> str | None:
        return self.cleaned_data["role"] or None


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(ReviewItem.Decision.KEEP, "Keep"), (ReviewItem.Decision.REMOVE, "Remove")])
    reason = forms.CharField(label="Reason (required to remove)", required=False, max_length=REASON_MAX_CHARS)
