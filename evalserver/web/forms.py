"""Forms of the pages. They only shape input; the services decide what is allowed."""

from django import forms
from django.contrib.auth import password_validation


class SignUpForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only. Shown on leaderboards next to your team.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(
        help_text="Used only for password resets.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class TeamCreateForm(forms.Form):
    name = forms.CharField(
        label="Team name",
        max_length=100,
        help_text="Shown on the leaderboard.",
    )


class TeamJoinForm(forms.Form):
    invite_code = forms.CharField(
        label="Invite code",
        max_length=64,
        help_text="Ask a member of the team for it; it is on their team page.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class SubmissionUploadForm(forms.Form):
    file = forms.FileField(
        label="Prediction file",
        help_text="answer.txt as plain text, .gz or inside a .zip.",
        allow_empty_file=True,
    )
    method_name = forms.CharField(
        label="Method name",
        max_length=200,
        required=False,
        help_text="Shown on the leaderboard if given.",
    )
    description = forms.CharField(
        label="Description",
        # The API's limit (submissions/serializers.py): one rule whichever door is used.
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, max_bytes: int | None = None, track: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["file"]
        if track == "detection":
            field.help_text = (
                "A detection CSV with the header video_id,tube_id,frame,class,score,x1,y1,x2,y2: "
                ".csv, .csv.gz, or the only file in a .zip; or a TinyActions 2022 .zip of "
                "<clip_id>/pred.pkl files."
            )
        if max_bytes:
            # Read by app.js to refuse an oversized file before a byte is sent.
            field.widget.attrs["data-max-bytes"] = str(max_bytes)
