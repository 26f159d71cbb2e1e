"""subscriptions' section of the customer page: the access and its timeline (phoenix.core.customer)."""

from __future__ import annotations

from django.urls import reverse

from phoenix.core import roles
from phoenix.core.customer import (
    CustomerSection,
    admin_change_url,
    admin_changelist_url,
    register_customer_section,
    register_customer_targets,
)
from subscriptions.models import Access, AccessEvent, AccessType


def customer_access(*, user, limit: int, viewer) -> dict:
    """The access row and its latest transitions, newest first (the events' access foreign key);
    a running trial offers *Extend trial* and *End trial now* to a viewer who may."""
    access = Access.objects.filter(user=user).first()
    if access is None:
        return {"access": None, "events": [], "see_all_url": ""}
    events = list(AccessEvent.objects.filter(access=access).order_by("-id")[:limit])
    actions = []
    if access.type == AccessType.TRIAL and viewer.has_perm(roles.MANAGE_TRIAL):
        for name, label in (("trial-extend", "Extend trial"), ("trial-end", "End trial now")):
            actions.append({"label": label,
                            "url": reverse(f"admin:subscriptions_access_operator_{name}", args=[access.pk])})
    return {"access": access, "events": events, "actions": actions, "change_url": admin_change_url(access),
            "see_all_url": admin_changelist_url(AccessEvent, access__id__exact=access.pk)}


def customer_access_targets(user) -> list[tuple[str, object]]:
    return [("subscriptions.access", pk) for pk in Access.objects.filter(user=user).values_list("pk", flat=True)]


def register() -> None:
    register_customer_section(CustomerSection(
        key="access", title="Access", template="admin/customer/access.html", build=customer_access,
        permissions=("subscriptions.view_access", "subscriptions.view_accessevent"), order=10))
    register_customer_targets(customer_access_targets)
