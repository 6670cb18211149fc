"""Request and response shapes of the organizer API (CONTRACT section 6 and the console)."""

from rest_framework import serializers


class RescoreCreateRequestSerializer(serializers.Serializer):
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
