"""Request and response shapes of the organizer API (CONTRACT section 6 and the console)."""

from rest_framework import serializers


class RescoreCreateSerializer(serializers.Serializer):
    labels = serializers.FileField(
        allow_empty_file=True,
        help_text="The corrected hidden label file, in the format the phase was imported with.",
    )


class RescoreDiffTeamSerializer(serializers.Serializer):
    team = serializers.CharField()
    team_id = serializers.IntegerField()
    old_rank = serializers.IntegerField(allow_null=True, help_text="null: not ranked today.")
    new_rank = serializers.IntegerField(allow_null=True, help_text="null: not ranked after.")
    old_score = serializers.FloatField(allow_null=True)
    new_score = serializers.FloatField(allow_null=True)
    old_submission_id = serializers.IntegerField(allow_null=True)
    new_submission_id = serializers.IntegerField(allow_null=True)
    moved = serializers.IntegerField(
        allow_null=True, help_text="Places gained (negative: lost); null when it entered or left."
    )
    change = serializers.ChoiceField(choices=["up", "down", "same", "entered", "left"])


class RescoreDiffSerializer(serializers.Serializer):
    teams = RescoreDiffTeamSerializer(many=True, help_text="Every team ranked before or after.")
    top_n = serializers.IntegerField()
    moved = serializers.ListField(child=serializers.CharField())
    entered_top = serializers.ListField(child=serializers.CharField())
    left_top = serializers.ListField(child=serializers.CharField())
    pending_submission_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=(
            "Submissions not in the preview yet (finished after its last pass, or queued or "
            "running): scored against the new labels when it is applied."
        ),
    )
    failing_submission_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Finished submissions that do not fit the new labels: failed when applied.",
    )


class RescoreProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class RescoreSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phase = serializers.IntegerField(source="phase_id")
    status = serializers.ChoiceField(choices=["running", "ready", "applied", "discarded", "failed"])
    progress = serializers.FloatField(help_text="Share of the submissions scored, 0 to 1.")
    scored = RescoreProgressSerializer()
    errors = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    diff = RescoreDiffSerializer(allow_null=True, help_text="Once `ready` (and after), else null.")


# --- Phases ----------------------------------------------------------------------------------


class OrganizerPhaseSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    challenge = serializers.CharField(source="challenge.slug", read_only=True)
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    track = serializers.CharField(read_only=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    is_open = serializers.BooleanField(help_text="The organizers' switch.")
    is_open_now = serializers.BooleanField(read_only=True, help_text="Switch on and inside dates.")
    max_submissions_per_day = serializers.IntegerField(allow_null=True, min_value=0)
    max_submissions_total = serializers.IntegerField(allow_null=True, min_value=0)
    max_upload_bytes = serializers.IntegerField(min_value=1)
    leaderboard_visibility = serializers.ChoiceField(choices=["public", "private"])
    has_labels = serializers.SerializerMethodField()
    n_items = serializers.IntegerField(read_only=True)

    def get_has_labels(self, phase) -> bool:
        return bool(phase.labels_sha256)


class PhaseUpdateSerializer(OrganizerPhaseSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Kept in the audit trail."
    )


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Kept in the audit trail.")


class LabelsUploadSerializer(serializers.Serializer):
    labels = serializers.FileField(allow_empty_file=True, help_text="The hidden label file.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class LabelsCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())
    n_items = serializers.IntegerField()
    sha256 = serializers.CharField()
    needs_rescore = serializers.BooleanField(
        help_text="The phase has scored submissions: replace its labels with a rescore preview."
    )
    saved = serializers.BooleanField()


# --- Submissions ----------------------------------------------------------------------------


class OrganizerSubmissionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    phase = serializers.IntegerField(source="phase_id")
    team = serializers.CharField(source="team.name")
    team_id = serializers.IntegerField()
    submitted_by = serializers.CharField(source="submitted_by.username", allow_null=True)
    submitted_at = serializers.DateTimeField(source="created_at")
    status = serializers.CharField()
    primary_score = serializers.FloatField(allow_null=True)
    method_name = serializers.CharField()
    original_filename = serializers.CharField()
    is_hidden = serializers.BooleanField()
    is_disqualified = serializers.BooleanField()
    is_baseline = serializers.BooleanField()
    attempts = serializers.IntegerField()


class BulkActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=[
            "rerun",
            "cancel",
            "hide",
            "unhide",
            "disqualify",
            "requalify",
            "baseline",
            "unbaseline",
        ]
    )
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=500)
    reason = serializers.CharField(
        max_length=2000, help_text="Kept in each submission's audit trail; the team sees it."
    )


class BulkOutcomeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="submission_id")
    ok = serializers.BooleanField()
    status = serializers.CharField()
    detail = serializers.CharField()


class SubmissionEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    reason = serializers.SerializerMethodField()
    detail = serializers.JSONField()

    def get_reason(self, event) -> str:
        return (event.detail or {}).get("reason", "")


# --- Teams, bans, audit ---------------------------------------------------------------------


class TeamMemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    role = serializers.CharField()
    joined_at = serializers.DateTimeField()


class OrganizerTeamSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="team.pk")
    name = serializers.CharField(source="team.name")
    created_at = serializers.DateTimeField(source="team.created_at")
    members = TeamMemberSerializer(many=True)
    submissions = serializers.IntegerField()
    finished = serializers.IntegerField()
    last_activity = serializers.DateTimeField(allow_null=True)
    banned_users = serializers.ListField(
        child=serializers.CharField(), help_text="Members banned from the challenge since."
    )
    approved_at = serializers.DateTimeField(
        source="team.approved_at", allow_null=True, help_text="null: waiting for approval."
    )


class BanCreateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    reason = serializers.CharField(max_length=2000, help_text="Kept in the audit trail.")


class BanSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)


class AuditEntrySerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    phase = serializers.IntegerField(source="phase_id", allow_null=True)
    reason = serializers.CharField()
    detail = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ChallengeSummarySerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    is_published = serializers.BooleanField()
    registration = serializers.CharField(help_text="open, approval or domains")
    allowed_email_domains = serializers.ListField(child=serializers.CharField())
    phases = OrganizerPhaseSerializer(many=True, source="phases.all")


class AnnouncementCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20_000, help_text="Markdown; rendered safely.")
    mail = serializers.BooleanField(default=False, help_text="Also mail every participant.")


class AnnouncementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    body_html = serializers.CharField(help_text="The sanitised HTML shown on the challenge page.")
    created_at = serializers.DateTimeField()
    mail = serializers.ChoiceField(choices=["none", "pending", "sent", "failed"])
    mail_sent = serializers.IntegerField()
    mail_error = serializers.CharField()


class RegistrationSerializer(serializers.Serializer):
    registration = serializers.ChoiceField(choices=["open", "approval", "domains"])
    allowed_email_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, default=list
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
