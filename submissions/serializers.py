"""Request and response shapes of the submission endpoints (CONTRACT section 3).

Nothing here may reveal the hidden labels beyond the score JSON of a finished
submission: no paths, hashes of label files, or per-clip results.
"""

import json
import math

import msgspec
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from evalserver.schema_limits import PredictionFileField
from submissions.models import Submission


# The request half of the split schema gets "Request" appended: not SubmissionCreateRequestRequest.
@extend_schema_serializer(component_name="SubmissionCreate")
class SubmissionCreateRequestSerializer(serializers.Serializer):
    # Empty files reach the service, which refuses them with its own message.
    file = PredictionFileField(
        allow_empty_file=True,
        help_text="answer.txt (plain, .gz or a one-file .zip) or the detection CSV; not "
        "empty, and at most the phase's `max_upload_bytes` (413 otherwise).",
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
    ci_low = serializers.SerializerMethodField(
        help_text=(
            "Lower end of the 95% bootstrap interval of primary_score once finished "
            "(on a split phase, of the public split like the scores); else null."
        )
    )
    ci_high = serializers.SerializerMethodField(help_text="Upper end of that interval.")
    selected = serializers.BooleanField(
        read_only=True,
        help_text=(
            "Marked by the team as one of its final submissions "
            '(`PATCH` with `{"selected": true|false}`).'
        ),
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "status",
            "scores",
            "errors",
            "primary_score",
            "ci_low",
            "ci_high",
            "selected",
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

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_ci_low(self, submission: Submission) -> float | None:
        return submission.ci_low if submission.status == Submission.Status.FINISHED else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_ci_high(self, submission: Submission) -> float | None:
        return submission.ci_high if submission.status == Submission.Status.FINISHED else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_errors(self, submission: Submission) -> list[str]:
        if submission.status != Submission.Status.FAILED:
            return []
        return [str(error) for error in (submission.errors or [])]


class SubmissionSelectSerializer(serializers.Serializer):
    # Optional, as PATCH semantics say: a body without it changes nothing.
    selected = serializers.BooleanField(
        required=False,
        help_text="true: count this submission as one of the team's final ones; false: not.",
    )


# --- The list's rows without the serializer (issue 12) -----------------------------------
#
# The API's list is its hottest read: SubmissionSerializer's field machinery, model
# instances and the json module's decoding and encoding of the score JSON cost most of a
# request. submission_list_items builds the same dicts (the same keys in the same order,
# the same values: tests/api compare them with SubmissionSerializer's) from the plain rows
# of submissions.selectors.submission_page_for_user, and decodes the scores with msgspec
# (the same values as json.loads: integers as int, floats correctly rounded).
#
# It also says whether evalserver.api.CompactJSONRenderer may write the response with
# msgspec: not when a float is NaN or infinite (msgspec writes null where the json module
# refuses) or a score text is not strict JSON (json.loads reads NaN, msgspec refuses).
_decode = msgspec.json.Decoder().decode


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _iso(value, zone) -> str | None:
    # DRF's DateTimeField.to_representation: in the current time zone, +00:00 as Z. SQLite
    # hands back naive datetimes in UTC (DRF makes them aware the same way).
    if value is None:
        return None
    value = value.astimezone(zone) if value.tzinfo is not None else value.replace(tzinfo=zone)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def submission_list_items(rows: list[dict], *, challenge_slug: str) -> tuple[list[dict], bool]:
    """SubmissionSerializer(many=True).data for the rows of a SubmissionPage, and whether
    a response of them may be CompactJSON."""
    zone = timezone.get_current_timezone()
    finished, failed = Submission.Status.FINISHED, Submission.Status.FAILED
    alike = True
    items = []
    for row in rows:
        status = row["status"]
        is_finished = status == finished
        scores = None
        if is_finished and row["scores_json"] is not None:
            try:
                scores = _decode(row["scores_json"])
            except msgspec.DecodeError:
                scores = json.loads(row["scores_json"])
                alike = False
        errors = []
        if status == failed and row["errors_json"] is not None:
            errors = [str(error) for error in (json.loads(row["errors_json"]) or [])]
        primary_score = row["primary_score"] if is_finished else None
        ci_low = row["ci_low"] if is_finished else None
        ci_high = row["ci_high"] if is_finished else None
        alike = alike and _finite(primary_score) and _finite(ci_low) and _finite(ci_high)
        created_at = _iso(row["created_at"], zone)
        items.append(
            {
                "id": row["id"],
                "status": status,
                "scores": scores,
                "errors": errors,
                "primary_score": primary_score,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "selected": bool(row["selected"]),
                "phase": row["phase_id"],
                "challenge": challenge_slug,
                "team": row["team_name"],
                "submitted_by": row["submitted_by_username"],
                "method_name": row["method_name"],
                "description": row["description"],
                "original_filename": row["original_filename"],
                "file_size": row["file_size"],
                "created_at": created_at,
                "submitted_at": created_at,
                "started_at": _iso(row["started_at"], zone),
                "finished_at": _iso(row["finished_at"], zone),
                "is_baseline": bool(row["is_baseline"]),
            }
        )
    return items, alike
