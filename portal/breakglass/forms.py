from django import forms
from django.core.validators import MaxValueValidator

from portal.breakglass.selectors import BreakGlassOption
from portal.breakglass.services import COMMENT_MAX_CHARS, INCIDENT_MAX_CHARS


class ActivateForm(forms.Form):
    incident = forms.CharField(label="Incident reference", max_length=INCIDENT_MAX_CHARS)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        help_text="What is broken and what you will do; at least 10 characters. Everyone who reviews this reads it.",
    )
    duration_minutes = forms.IntegerField(label="Duration in minutes", min_value=1)

    def __init__(self, *args, option: BreakGlassOption, **kwargs):
        super().__init__(*args, **kwargs)
        longest = option.max_minutes
        duration = self.fields["duration_minutes"]
        duration.initial = longest
        duration.widget.attrs.update({"max": longest, "min": 1, "inputmode": "numeric"})
        duration.help_text = f"At most {longest} minutes."
        duration.validators.append(
            MaxValueValidator(longest, message=f"A break-glass window is at most {longest} minutes.")
        )
        pattern = option.policy.incident_pattern
        if pattern:
            self.fields["incident"].help_text = f"It must match {pattern}."


class ConfirmForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=COMMENT_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2}), label="Comment"
    )


class FlagForm(forms.Form):
    comment = forms.CharField(
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What was wrong",
        help_text="Flagging revokes the grant if it is still open and tells the portal admins.",
    )
