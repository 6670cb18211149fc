"""Forms of the console pages; the services check the rules, these only parse."""

from django import forms

from evalserver.challenges.models import Challenge, Phase
from evalserver.console.services import BULK_ACTIONS

_UTC_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


class ReasonField(forms.CharField):
    def __init__(self, *, required: bool = True, **kwargs):
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault(
            "help_text", "Kept in the audit trail" + ("" if required else " (optional)") + "."
        )
        super().__init__(required=required, **kwargs)


class PhaseSettingsForm(forms.Form):
    starts_at = forms.DateTimeField(
        input_formats=_UTC_FORMATS, help_text="UTC, YYYY-MM-DD HH:MM:SS", label="Starts (UTC)"
    )
    ends_at = forms.DateTimeField(
        input_formats=_UTC_FORMATS, help_text="UTC, YYYY-MM-DD HH:MM:SS", label="Ends (UTC)"
    )
    max_submissions_per_day = forms.IntegerField(
        min_value=0, required=False, help_text="Per team; empty = no limit.", label="Per day"
    )
    max_submissions_total = forms.IntegerField(
        min_value=0, required=False, help_text="Per team; empty = no limit.", label="In total"
    )
    max_upload_bytes = forms.IntegerField(min_value=1, label="Largest upload (bytes)")
    leaderboard_visibility = forms.ChoiceField(
        choices=Phase.Visibility.choices, label="Leaderboard"
    )
    reason = ReasonField(required=False)


class LabelsForm(forms.Form):
    labels = forms.FileField(label="Hidden label file", help_text="JSON (or .gz), as imported.")
    reason = ReasonField(required=False)


class SubmissionFilterForm(forms.Form):
    phase = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(required=False)
    team = forms.CharField(required=False, max_length=100, help_text="Name or id")
    flag = forms.ChoiceField(required=False)
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (included)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, phases=(), **kwargs):
        from evalserver.console.selectors import FLAGS
        from submissions.models import Submission

        super().__init__(*args, **kwargs)
        self.fields["phase"].choices = [("", "All phases"), *((p.pk, p.name) for p in phases)]
        self.fields["status"].choices = [("", "Any status"), *Submission.Status.choices]
        self.fields["flag"].choices = [("", "Any flags"), *((f, f.capitalize()) for f in FLAGS)]


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a.capitalize()) for a in BULK_ACTIONS])
    ids = forms.TypedMultipleChoiceField(coerce=int, required=True)
    reason = ReasonField(help_text="Kept in the audit trail and shown to the team.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id: the service checks which belong to the challenge.
        self.fields["ids"].choices = [(v, v) for v in self.data.getlist("ids") if v.isdigit()]


class AnnouncementForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=20_000,
        label="Message",
        help_text="Markdown: **bold**, *italic*, [links](https://...), lists, `code`.",
    )
    mail = forms.BooleanField(
        required=False,
        label="Also mail it to every participant",
        help_text="Members of the challenge's teams, except those who opted out.",
    )


class RegistrationForm(forms.Form):
    registration = forms.ChoiceField(
        choices=Challenge.Registration.choices, widget=forms.RadioSelect, label="Who may take part"
    )
    allowed_email_domains = forms.CharField(
        required=False,
        label="Email domains",
        help_text="For registration by domain: e.g. example.org, lab.example.edu",
    )
    reason = ReasonField(required=False)


class ReasonForm(forms.Form):
    reason = ReasonField()


class OptionalReasonForm(forms.Form):
    reason = ReasonField(required=False)
