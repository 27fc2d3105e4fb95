from django import forms

from portal.access.models import AccessRole
from portal.access.services import JUSTIFICATION_MAX_CHARS, TICKET_MAX_CHARS


class RequestForm(forms.Form):
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=1)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=JUSTIFICATION_MAX_CHARS)
    ticket = forms.CharField(required=False, max_length=TICKET_MAX_CHARS)
    starts_at = forms.DateTimeField(
        label="Start (UTC, empty = as soon as approved)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, role: AccessRole, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["duration_minutes"].initial = role.default_duration_minutes
        self.fields["duration_minutes"].widget.attrs["max"] = role.max_duration_minutes
        self.fields["ticket"].required = role.ticket_required
        if role.ticket_pattern:
            self.fields["ticket"].help_text = f"Format: {role.ticket_pattern}"


class ExtendForm(forms.Form):
    duration_minutes = forms.IntegerField(label="Extra minutes", min_value=1)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=JUSTIFICATION_MAX_CHARS)


class ApproveForm(forms.Form):
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    duration_minutes = forms.IntegerField(label="Shorten to (minutes)", min_value=1, required=False)


class DenyForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
