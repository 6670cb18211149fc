"""Request and response shapes of the submission endpoints (CONTRACT section 3).

Nothing here may reveal the hidden labels beyond the score JSON of a finished
submission: no paths, hashes of label files, or per-clip results.
"""

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from submissions.models import Submission


# The request half of the split schema gets "Request" appended: not SubmissionCreateRequestRequest.
@extend_schema_serializer(component_name="SubmissionCreate")
class SubmissionCreateRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="answer.txt (plain, .gz or a one-file .zip) or the detection CSV.",
    )
    method_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class SubmissionCheckSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="The file to check, as it would be uploaded (same formats and caps).",
    )


class SubmissionCheckResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="True when an upload of this file would be scored.")
    errors = serializers.ListField(
        child=serializers.CharField(),
        help_text="Every problem, as a failed submission would list them (`line 17: ...`).",
    )
    n_items = serializers.IntegerField(help_text="How many clips the phase expects.")


class SubmissionSerializer(serializers.ModelSerializer):
    phase = serializers.IntegerField(source="phase_id", read_only=True)
    challenge = serializers.CharField(source="phase.challenge.slug", read_only=True)
    team = serializers.CharField(source="team.name", read_only=True)
    submitted_by = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField(source="created_at", read_only=True)
    scores = serializers.SerializerMethodField(
        help_text="The score JSON of `manage.py score` once finished, else null."
    )
    primary_score = serializers.SerializerMethodField()
    errors = serializers.SerializerMethodField(
        help_text="Why the file was refused or failed, when `status` is `failed`; else []."
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "status",
            "scores",
            "errors",
            "primary_score",
            "phase",
            "challenge",
            "team",
            "submitted_by",
            "method_name",
            "description",
            "original_filename",
            "file_size",
            "created_at",
            "submitted_at",
            "started_at",
            "finished_at",
            "is_baseline",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_submitted_by(self, submission: Submission) -> str | None:
        return submission.submitted_by.username if submission.submitted_by else None

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_scores(self, submission: Submission):
        return submission.scores if submission.status == Submission.Status.FINISHED else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_primary_score(self, submission: Submission) -> float | None:
        if submission.status != Submission.Status.FINISHED:
            return None
        return submission.primary_score

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_errors(self, submission: Submission) -> list[str]:
        if submission.status != Submission.Status.FAILED:
            return []
        return [str(error) for error in (submission.errors or [])]
