"""Request and response shapes of the account endpoints (CONTRACT section 3)."""

from rest_framework import serializers

from evalserver.accounts.models import User
from evalserver.schema_limits import (
    LoginPasswordField,
    LoginUsernameField,
    NewPasswordField,
    NewUsernameField,
)


class RegisterRequestSerializer(serializers.Serializer):
    # The services check the rules; these fields state them in the schema (schema_limits).
    username = NewUsernameField(max_length=150, trim_whitespace=True)
    email = serializers.EmailField()
    password = NewPasswordField(write_only=True, trim_whitespace=False, max_length=4096)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class TokenRequestSerializer(serializers.Serializer):
    username = LoginUsernameField(max_length=150)
    password = LoginPasswordField(trim_whitespace=False, max_length=4096)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
