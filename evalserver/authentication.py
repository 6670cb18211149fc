"""The API's token authentication: DRF's, cheaper (issue 12).

Its own module, apart from evalserver.api: DRF imports the authentication classes while
``rest_framework.views`` is still loading, which evalserver.api imports.
"""

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (the same answers and messages), reading the token and
    its user in one plain query on PostgreSQL: the ORM's compiling and building of a
    select_related query cost more than the query itself on every API request (issue 12).
    Other databases go through DRF's query (their values need the ORM's converters)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        if connection.vendor != "postgresql" or model._meta.label != "authtoken.Token":
            return super().authenticate_credentials(key)
        sql, token_fields, user_fields = _token_user_sql()
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise AuthenticationFailed(_("Invalid token."))
        n = len(token_fields)
        token = model.from_db(connection.alias, token_fields, row[:n])
        user = get_user_model().from_db(connection.alias, user_fields, row[n:])
        token.user = user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        return (user, token)


_KEY_USER_SQL = (
    "SELECT {columns} FROM {token} t JOIN {user} u ON u.{user_pk} = t.{token_user}"
    " WHERE t.{token_key} = %s"
)


@functools.cache
def _token_user_sql() -> tuple[str, list[str], list[str]]:
    from rest_framework.authtoken.models import Token

    quote = connection.ops.quote_name
    token_fields = Token._meta.concrete_fields
    user_fields = get_user_model()._meta.concrete_fields
    columns = [f"t.{quote(f.column)}" for f in token_fields]
    columns += [f"u.{quote(f.column)}" for f in user_fields]
    sql = _KEY_USER_SQL.format(
        columns=", ".join(columns),
        token=quote(Token._meta.db_table),
        user=quote(get_user_model()._meta.db_table),
        user_pk=quote(get_user_model()._meta.pk.column),
        token_user=quote(Token._meta.get_field("user").column),
        token_key=quote(Token._meta.get_field("key").column),
    )
    return sql, [f.attname for f in token_fields], [f.attname for f in user_fields]
