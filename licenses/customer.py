"""licenses' section of the customer page (pro account, licenses, memberships) and the search
by pro account / license public id (phoenix.core.customer). Reads go through the foreign keys'
indexes (owner, pro_account, assignee, collaborator) and the public ids' unique indexes."""

from __future__ import annotations

from django.urls import reverse

from licenses.models import License, Membership, ProAccount, ProAccountStatus
from phoenix.core import roles
from phoenix.core.customer import (
    CustomerMatch,
    CustomerSection,
    admin_change_url,
    admin_changelist_url,
    query_uuid,
    register_customer_search,
    register_customer_section,
    register_customer_targets,
)


def customer_pro(*, user, limit: int, viewer) -> dict:
    """The pro account they own (its latest licenses and members), the licenses they hold, the
    pro accounts they collaborate with."""
    account = ProAccount.objects.filter(owner=user).first()
    data: dict = {"account": None, "account_licenses": [], "members": [], "actions": []}
    if account is not None:
        data.update(
            account=account, account_url=admin_change_url(account),
            account_licenses=list(License.objects.filter(pro_account=account).select_related("assignee")
                                  .order_by("-id")[:limit]),
            members=list(Membership.objects.filter(pro_account=account).select_related("collaborator")
                         .order_by("-id")[:limit]),
            see_all_url=admin_changelist_url(License, pro_account__id__exact=account.pk),
        )
        if viewer.has_perm(roles.SUSPEND_PRO_ACCOUNT):
            name, label = {ProAccountStatus.ACTIVE: ("suspend", "Suspend pro account"),
                           ProAccountStatus.SUSPENDED: ("reactivate", "Reactivate pro account")}.get(
                account.status, (None, None))
            if name:
                data["actions"] = [{"label": label,
                                    "url": reverse(f"admin:licenses_proaccount_operator_{name}", args=[account.pk])}]
    data["held_licenses"] = list(License.objects.filter(assignee=user).select_related("pro_account__owner")
                                 .order_by("-id")[:limit])
    data["memberships"] = list(Membership.objects.filter(collaborator=user).select_related("pro_account__owner")
                               .order_by("-id")[:limit])
    data.setdefault("see_all_url", admin_changelist_url(License, assignee__id__exact=user.pk))
    return data


def customer_search_licenses(query: str) -> list[CustomerMatch]:
    """A pro account's public id names its owner; a license's names its holder and its pro account's owner."""
    if (public_id := query_uuid(query)) is None:
        return []
    matches = [CustomerMatch(user_id=pk, kind="pro account public id", label=str(public_id))
               for pk in ProAccount.objects.filter(public_id=public_id).values_list("owner_id", flat=True)]
    for assignee_id, owner_id in License.objects.filter(public_id=public_id).values_list(
            "assignee_id", "pro_account__owner_id"):
        if assignee_id is not None:
            matches.append(CustomerMatch(user_id=assignee_id, kind="license public id (holder)", label=str(public_id)))
        matches.append(CustomerMatch(user_id=owner_id, kind="license public id (pro account owner)",
                                     label=str(public_id)))
    return matches


def customer_pro_targets(user) -> list[tuple[str, object]]:
    return [("licenses.proaccount", pk) for pk in ProAccount.objects.filter(owner=user).values_list("pk", flat=True)]


def register() -> None:
    register_customer_section(CustomerSection(
        key="pro", title="Licenses and pro memberships", template="admin/customer/pro.html", build=customer_pro,
        permissions=("licenses.view_proaccount", "licenses.view_license", "licenses.view_membership"), order=40))
    register_customer_search(customer_search_licenses)
    register_customer_targets(customer_pro_targets)
