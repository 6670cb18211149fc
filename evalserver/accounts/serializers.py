"""Request and response shapes of the account endpoints (CONTRACT section 3)."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from evalserver.accounts.models import User


# The request half of the split schema gets "Request" appended: not RegisterRequestRequest.
@extend_schema_serializer(component_name="Register")
class RegisterRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=True)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


# The request half of the split schema gets "Request" appended (the answer is Token).
@extend_schema_serializer(component_name="TokenCredentials")
class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(trim_whitespace=False, max_length=4096)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


# The request half of the split schema gets "Request" appended: not PasswordResetRequestRequest.
@extend_schema_serializer(component_name="PasswordReset")
class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
