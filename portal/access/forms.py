from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import MaxValueValidator

from portal.access.models import AccessRequest, AccessRole
from portal.access.services import JUSTIFICATION_MAX_CHARS, JUSTIFICATION_MIN_CHARS, TICKET_MAX_CHARS

# The quick choices of the request form, in minutes; the role's maximum is always offered too.
QUICK_DURATIONS = (15, 60, 240)


def _zone(name: str) -> ZoneInfo:
    """Return the browser's time zone, or UTC when it sent none or one that does not exist."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class RequestForm(forms.Form):
    duration_minutes = forms.IntegerField(label="Duration in minutes", min_value=1)
    start = forms.ChoiceField(
        label="Start",
        required=False,
        choices=[("now", "As soon as approved"), ("later", "At a chosen time")],
        initial="now",
        widget=forms.RadioSelect,
    )
    starts_at = forms.DateTimeField(
        label="Start time",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # Filled in by the page's script with the browser's IANA zone; the start time is read in that zone.
    tz = forms.CharField(required=False, widget=forms.HiddenInput)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "data-counter": ""}),
        max_length=JUSTIFICATION_MAX_CHARS,
        help_text=f"What you will do and why; at least {JUSTIFICATION_MIN_CHARS} characters. Approvers read this.",
    )
    ticket = forms.CharField(label="Ticket", required=False, max_length=TICKET_MAX_CHARS)

    def __init__(self, *args, role: AccessRole, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role
        duration = self.fields["duration_minutes"]
        duration.initial = role.default_duration_minutes
        duration.validators.append(
            MaxValueValidator(
                role.max_duration_minutes,
                message=f"That is longer than {role.name} allows: at most {role.max_duration_minutes} minutes.",
            )
        )
        duration.widget.attrs.update({"max": role.max_duration_minutes, "min": 1, "inputmode": "numeric"})
        duration.help_text = f"At most {role.max_duration_minutes} minutes. The time starts when access is issued."
        self.fields["justification"].widget.attrs["maxlength"] = JUSTIFICATION_MAX_CHARS
        ticket = self.fields["ticket"]
        ticket.required = role.ticket_required
        if role.ticket_pattern:
            ticket.widget.attrs["data-pattern"] = role.ticket_pattern
            ticket.help_text = f"Format: {role.ticket_pattern}"

    @property
    def quick_durations(self) -> list[int]:
        """Return the quick duration choices that fit the role, ending with its maximum."""
        top = self.role.max_duration_minutes
        return [minutes for minutes in QUICK_DURATIONS if minutes < top] + [top]

    def clean(self):
        data = super().clean()
        if data.get("start") != "later":
            data["starts_at"] = None
        elif data.get("starts_at") is None:
            if "starts_at" not in self.errors:
                self.add_error("starts_at", "Choose when access should start, or start as soon as approved.")
        else:
            # The field read the wall-clock time as UTC; it is the person's own time zone that they typed in.
            local = data["starts_at"].replace(tzinfo=None)
            data["starts_at"] = local.replace(tzinfo=_zone(data.get("tz", ""))).astimezone(ZoneInfo("UTC"))
        return data

    def request_fields(self) -> dict:
        """Return the cleaned values that `request_create` takes."""
        data = self.cleaned_data
        return {key: data[key] for key in ("duration_minutes", "justification", "ticket", "starts_at")}


class ExtendForm(forms.Form):
    duration_minutes = forms.IntegerField(label="Extra minutes", min_value=1)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "data-counter": "", "maxlength": JUSTIFICATION_MAX_CHARS}),
        max_length=JUSTIFICATION_MAX_CHARS,
    )


class ApproveForm(forms.Form):
    comment = forms.CharField(label="Comment (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    duration_minutes = forms.IntegerField(
        label="Shorten to (minutes, optional)", min_value=1, required=False, widget=forms.NumberInput()
    )


class DenyForm(forms.Form):
    comment = forms.CharField(
        label="Why you deny it", widget=forms.Textarea(attrs={"rows": 2}), help_text="The requester reads this."
    )


class HistoryFilterForm(forms.Form):
    person = forms.CharField(label="Person", required=False, widget=forms.TextInput(attrs={"placeholder": "UPN"}))
    role = forms.ModelChoiceField(
        label="Role",
        required=False,
        queryset=AccessRole.objects.order_by("name"),
        to_field_name="slug",
        empty_label="Any",
    )
    action = forms.CharField(label="Action", required=False)
    state = forms.ChoiceField(
        label="Request state", required=False, choices=[("", "Any")] + AccessRequest.State.choices
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(
        label="Search",
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Justification or ticket"}),
    )

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].widget = forms.Select(choices=[("", "Any")] + [(name, name) for name in actions])

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end of the range is before its start.")
        return data

    def filters(self) -> dict:
        """Return the filters for `audit_events_filtered`: the date range as UTC instants, `until` inclusive."""
        data = self.cleaned_data
        utc = ZoneInfo("UTC")
        return {
            "person": data.get("person", "").strip(),
            "role": data.get("role"),
            "action": data.get("action", ""),
            "state": data.get("state", ""),
            "since": datetime.combine(data["since"], time.min, utc) if data.get("since") else None,
            "until": datetime.combine(data["until"] + timedelta(days=1), time.min, utc) if data.get("until") else None,
            "q": data.get("q", "").strip(),
        }
