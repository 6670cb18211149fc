"""Response shapes of the challenge endpoints (CONTRACT section 3)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evalserver.challenges.downloads import download_url
from evalserver.challenges.models import Challenge, Download, Phase


class DownloadSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Where to GET the bytes; 401/403 when `audience` is participants and the "
        "caller is not a member of a team of the challenge."
    )

    class Meta:
        model = Download
        fields = ["name", "description", "size", "sha256", "audience", "url"]
        read_only_fields = fields

    def get_url(self, download: Download) -> str:
        url = download_url(download)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class PhaseSerializer(serializers.ModelSerializer):
    is_open = serializers.SerializerMethodField(
        help_text="Takes submissions now: switched open by the organizers AND inside its dates."
    )
    primary_metric = serializers.CharField(read_only=True)
    leaderboard = serializers.CharField(source="leaderboard_visibility", read_only=True)
    downloads = DownloadSerializer(many=True, read_only=True)

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
            "downloads",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_open(self, phase: Phase) -> bool:
        now = self.context.get("now")
        return phase.is_open_at(now) if now is not None else phase.is_open_now


class ChallengeSerializer(serializers.ModelSerializer):
    phases = PhaseSerializer(many=True, read_only=True)
    n_classes = serializers.IntegerField(read_only=True)
    downloads = DownloadSerializer(
        many=True,
        read_only=True,
        source="challenge_downloads",
        help_text="The challenge's own files; each phase lists its own `downloads` too.",
    )

    class Meta:
        model = Challenge
        fields = [
            "slug",
            "title",
            "description",
            "n_classes",
            "class_names",
            "max_team_size",
            "downloads",
            "phases",
        ]
        read_only_fields = fields
