"""Response shapes of the challenge endpoints (CONTRACT section 3)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evalserver.challenges.models import Challenge, Phase


class PhaseSerializer(serializers.ModelSerializer):
    is_open = serializers.SerializerMethodField(
        help_text="Takes submissions now: switched open by the organizers AND inside its dates."
    )
    primary_metric = serializers.CharField(read_only=True)
    leaderboard = serializers.CharField(source="leaderboard_visibility", read_only=True)

    class Meta:
        model = Phase
        fields = [
            "id",
            "slug",
            "name",
            "track",
            "starts_at",
            "ends_at",
            "is_open",
            "primary_metric",
            "max_submissions_per_day",
            "max_submissions_total",
            "max_upload_bytes",
            "leaderboard",
            "detection_protocol",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_open(self, phase: Phase) -> bool:
        now = self.context.get("now")
        return phase.is_open_at(now) if now is not None else phase.is_open_now


class ChallengeSerializer(serializers.ModelSerializer):
    phases = PhaseSerializer(many=True, read_only=True)
    n_classes = serializers.IntegerField(read_only=True)

    class Meta:
        model = Challenge
        fields = [
            "slug",
            "title",
            "description",
            "n_classes",
            "class_names",
            "max_team_size",
            "phases",
        ]
        read_only_fields = fields
