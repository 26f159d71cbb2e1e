"""The customer page's identity section and the search by e-mail / public id (phoenix.core.customer)."""

from __future__ import annotations

from phoenix.accounts.models import User, normalize_email
from phoenix.core.customer import (
    CustomerMatch,
    CustomerSection,
    admin_change_url,
    query_uuid,
    register_customer_search,
    register_customer_section,
)


def customer_identity(*, user, limit: int, viewer) -> dict:
    groups = [g.name for g in user.groups.all()]  # one query; a user has a handful of roles
    return {"user": user, "groups": groups, "see_all_url": "", "change_url": admin_change_url(user)}


def customer_search_user(query: str) -> list[CustomerMatch]:
    """An exact e-mail (stored lower-cased: the UNIQUE index answers) or a user's public id."""
    if "@" in query:
        email = normalize_email(query)
        return [CustomerMatch(user_id=pk, kind="e-mail", label=email)
                for pk in User.objects.filter(email=email).values_list("pk", flat=True)]
    if (public_id := query_uuid(query)) is not None:
        return [CustomerMatch(user_id=pk, kind="user public id", label=str(public_id))
                for pk in User.objects.filter(public_id=public_id).values_list("pk", flat=True)]
    return []


def register() -> None:
    register_customer_section(CustomerSection(
        key="identity", title="Identity", template="admin/customer/identity.html", build=customer_identity,
        permissions=("accounts.view_user",), order=0))
    register_customer_search(customer_search_user)
