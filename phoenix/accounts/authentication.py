"""Token authentication that also reads, in its one statement, the user's rows the request's
services ask for on every call (the apps above phoenix register them: `subscriptions` its
`access`, for the unlimited-energy check of every /luna spend).

The rows are the request's view at authentication: `relations_read_at_authentication` on the
user names them, and only a read-only question asked within the request uses them
(`subscriptions.selectors.has_unlimited_energy`); anything that changes and re-reads reads the
database.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

_relations: list[str] = []


def register_authentication_relation(name: str) -> None:
    """`name`: a one-to-one relation of the user read with the token (select_related)."""
    if name not in _relations:
        _relations.append(name)


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        relations = tuple(_relations)
        try:
            token = model.objects.select_related("user", *(f"user__{name}" for name in relations)).get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token.user.relations_read_at_authentication = frozenset(relations)
        return (token.user, token)
