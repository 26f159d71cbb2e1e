"""subscriptions' section of the customer page: the access and its timeline (phoenix.core.customer)."""

from __future__ import annotations

from phoenix.core.customer import (
    CustomerSection,
    admin_change_url,
    admin_changelist_url,
    register_customer_section,
    register_customer_targets,
)
from subscriptions.models import Access, AccessEvent


def customer_access(*, user, limit: int, viewer) -> dict:
    """The access row and its latest transitions, newest first (the events' access foreign key)."""
    access = Access.objects.filter(user=user).first()
    if access is None:
        return {"access": None, "events": [], "see_all_url": ""}
    events = list(AccessEvent.objects.filter(access=access).order_by("-id")[:limit])
    return {"access": access, "events": events, "change_url": admin_change_url(access),
            "see_all_url": admin_changelist_url(AccessEvent, access__id__exact=access.pk)}


def customer_access_targets(user) -> list[tuple[str, object]]:
    return [("subscriptions.access", pk) for pk in Access.objects.filter(user=user).values_list("pk", flat=True)]


def register() -> None:
    register_customer_section(CustomerSection(
        key="access", title="Access", template="admin/customer/access.html", build=customer_access,
        permissions=("subscriptions.view_access", "subscriptions.view_accessevent"), order=10))
    register_customer_targets(customer_access_targets)
