"""Request and response shapes of the team endpoints (CONTRACT section 3)."""

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from evalserver.teams import selectors
from evalserver.teams.models import Membership, Team


# The request half of the split schema gets "Request" appended: not TeamCreateRequestRequest.
@extend_schema_serializer(component_name="TeamCreate")
class TeamCreateRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


# The request half of the split schema gets "Request" appended: not TeamJoinRequestRequest.
@extend_schema_serializer(component_name="TeamJoin")
class TeamJoinRequestSerializer(serializers.Serializer):
    invite_code = serializers.CharField(max_length=64, trim_whitespace=True)


class TeamCreatedSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "invite_code"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "joined_at"]
        read_only_fields = fields


class TeamDetailSerializer(serializers.ModelSerializer):
    """What a member sees of their own team."""

    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "challenge", "invite_code", "created_at", "members"]
        read_only_fields = fields

    @extend_schema_field(MemberSerializer(many=True))
    def get_members(self, team: Team) -> list[dict]:
        return MemberSerializer(selectors.team_members(team=team), many=True).data


class MyTeamSerializer(serializers.ModelSerializer):
    """One of the caller's teams, in the list across challenges."""

    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role = serializers.CharField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "challenge", "role"]
        read_only_fields = fields


class InviteCodeSerializer(serializers.Serializer):
    invite_code = serializers.CharField()
