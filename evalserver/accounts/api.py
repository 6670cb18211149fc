"""Account endpoints: register, obtain a token, rotate it, who am I."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from evalserver.accounts import services
from evalserver.accounts.serializers import (
    DetailSerializer,
    PasswordResetRequestSerializer,
    RegisterRequestSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    UserSerializer,
)
from evalserver.api import error_responses


class RegisterView(APIView):
    # No session authentication: a sign-up from a script carries no CSRF token.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(
        operation_id="auth_register",
        summary="Create an account",
        request=RegisterRequestSerializer,
        responses={201: UserSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request):
        data = RegisterRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token",
        summary="Exchange a username and password for the API token",
        description=(
            "Returns the account's token, creating it on first use. Failed attempts are "
            "counted per account and address, per address and per account (README "
            '"Login protection"); too many answer 429 with `Retry-After`.'
        ),
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # django-axes marks the Django request, which its middleware reads afterwards.
        token = services.token_login(
            request=request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        return Response({"token": token.key})


class TokenRotateView(APIView):
    @extend_schema(
        operation_id="auth_token_rotate",
        summary="Replace your API token",
        description="The old token stops working at once; the new one is returned.",
        request=None,
        responses={200: TokenSerializer, **error_responses(401)},
    )
    def post(self, request):
        token = services.token_rotate(user=request.user)
        return Response({"token": token.key})


class LogoutView(APIView):
    @extend_schema(
        operation_id="auth_logout",
        summary="Delete your API token (log out every script using it)",
        description="`POST /api/v1/auth/token/` with your password makes a new one.",
        request=None,
        responses={204: None, **error_responses(401)},
    )
    def post(self, request):
        services.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(
        operation_id="auth_me",
        summary="The account the request is authenticated as",
        responses={200: UserSerializer, **error_responses(401)},
    )
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class PasswordResetView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_reset"

    @extend_schema(
        operation_id="auth_password_reset",
        summary="Email yourself a link to choose a new password",
        description=(
            "Always 202 for a well-formed address, whether or not an account uses it. "
            "The link opens the browser's reset page."
        ),
        request=PasswordResetRequestSerializer,
        responses={202: DetailSerializer, **error_responses(400, 429)},
        auth=[],
    )
    def post(self, request):
        data = PasswordResetRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(
            request=request._request, email=data.validated_data["email"]
        )
        return Response(
            {"detail": services.RESET_LINK_SENT_MESSAGE}, status=status.HTTP_202_ACCEPTED
        )
