"""core's section of the customer page: the operator actions concerning the customer.

Apart from `phoenix.core.customer` (the registry) because the admin site, which imports the
registry, is loaded before the models are.
"""

from __future__ import annotations

from django.db.models import Q

from phoenix.core.customer import (
    CustomerSection,
    admin_changelist_url,
    customer_targets,
    register_customer_section,
)
from phoenix.core.models import AdminAction


def customer_operator_actions(*, user, limit: int, viewer) -> dict:
    """The latest AdminAction rows on the user or their objects (`adminaction_target_idx`: one
    index probe per target, however many actions exist)."""
    concerning = Q()
    for target_type, target_id in customer_targets(user):
        concerning |= Q(target_type=target_type, target_id=target_id)
    rows = list(AdminAction.objects.filter(concerning).select_related("actor").order_by("-created_at", "-id")[:limit])
    see_all = admin_changelist_url(AdminAction, target_type=user._meta.label_lower, target_id=user.pk)
    return {"rows": rows, "see_all_url": see_all}


def register() -> None:
    register_customer_section(CustomerSection(
        key="operator-actions", title="Operator actions", template="admin/customer/operator_actions.html",
        build=customer_operator_actions, permissions=("core.view_adminaction",), order=90))
