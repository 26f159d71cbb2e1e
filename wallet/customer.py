"""wallet's sections of the customer page and its search resolvers (phoenix.core.customer).

Every read is the latest `limit` rows through an index: operations by the `(wallet, seq)`
unique index, lots by `energylot_wallet_live_idx`, holds and incidents by their wallet
foreign key, usage events by `usageevent_user_idx`; a hold or operation id by primary key.
"""

from __future__ import annotations

from django.urls import reverse

from phoenix.core import roles
from phoenix.core.customer import (
    CustomerMatch,
    CustomerSection,
    admin_change_url,
    admin_changelist_url,
    query_int,
    query_uuid,
    register_customer_search,
    register_customer_section,
    register_customer_targets,
)
from wallet.models import BalanceOperation, EnergyLot, Hold, HoldStatus, Incident, UsageEvent, Wallet


def _wallet_of(user) -> Wallet | None:
    return Wallet.objects.filter(user=user).first()


def customer_wallet(*, user, limit: int, viewer) -> dict:
    """Balance, held, available and the live lots (energy left), soonest expiry first."""
    wallet = _wallet_of(user)
    if wallet is None:
        return {"wallet": None, "lots": [], "see_all_url": ""}
    lots = list(EnergyLot.objects.filter(wallet=wallet, remaining__gt=0).order_by("expires_at", "id")[:limit])
    actions = []
    if viewer.has_perm(roles.ADJUST_WALLET):
        for name, label in (("grant", "Grant energy"), ("adjust", "Adjust balance")):
            actions.append({"label": label, "url": reverse(f"admin:wallet_wallet_operator_{name}", args=[wallet.pk])})
    return {"wallet": wallet, "lots": lots, "actions": actions, "change_url": admin_change_url(wallet),
            "see_all_url": admin_changelist_url(EnergyLot, wallet__id__exact=wallet.pk)}


def customer_holds(*, user, limit: int, viewer) -> dict:
    """The pending holds, each with the Release operator action when the viewer may take it."""
    wallet = _wallet_of(user)
    if wallet is None:
        return {"rows": [], "see_all_url": ""}
    holds = list(Hold.objects.filter(wallet=wallet, status=HoldStatus.PENDING).order_by("-created_at")[:limit])
    may_release = viewer.has_perm(roles.RELEASE_HOLD)
    rows = [{"hold": h, "url": admin_change_url(h),
             "release_url": reverse("admin:wallet_hold_operator_release", args=[h.pk]) if may_release else ""}
            for h in holds]
    return {"rows": rows, "see_all_url": admin_changelist_url(Hold, wallet__id__exact=wallet.pk,
                                                               status__exact=HoldStatus.PENDING)}


def customer_operations(*, user, limit: int, viewer) -> dict:
    """The latest ledger rows: the signed change of the balance (and of held) and the running
    balance after each, as the ledger recorded them."""
    wallet = _wallet_of(user)
    if wallet is None:
        return {"rows": [], "see_all_url": ""}
    ops = list(BalanceOperation.objects.filter(wallet=wallet).order_by("-seq")[:limit])
    rows = [{"op": op, "balance_change": op.balance_after - op.balance_before,
             "held_change": op.held_after - op.held_before, "url": admin_change_url(op)} for op in ops]
    return {"rows": rows, "see_all_url": admin_changelist_url(BalanceOperation, wallet__id__exact=wallet.pk)}


def customer_usage(*, user, limit: int, viewer) -> dict:
    events = list(UsageEvent.objects.filter(user=user).order_by("-id")[:limit])
    return {"rows": events, "see_all_url": admin_changelist_url(UsageEvent, user__id__exact=user.pk)}


def customer_incidents(*, user, limit: int, viewer) -> dict:
    wallet = _wallet_of(user)
    if wallet is None:
        return {"rows": [], "see_all_url": ""}
    incidents = list(Incident.objects.filter(wallet=wallet).order_by("-detected_at", "-id")[:limit])
    return {"rows": [{"incident": i, "url": admin_change_url(i)} for i in incidents],
            "see_all_url": admin_changelist_url(Incident, wallet__id__exact=wallet.pk)}


def customer_search_wallet(query: str) -> list[CustomerMatch]:
    """A hold id (UUID) or an operation id (integer, "#12" too)."""
    if (hold_id := query_uuid(query)) is not None:
        return [CustomerMatch(user_id=pk, kind="hold id", label=str(hold_id))
                for pk in Hold.objects.filter(pk=hold_id).values_list("wallet__user_id", flat=True)]
    if (op_id := query_int(query)) is not None:
        return [CustomerMatch(user_id=pk, kind="operation id", label=f"operation {op_id}")
                for pk in BalanceOperation.objects.filter(pk=op_id).values_list("wallet__user_id", flat=True)]
    return []


def customer_wallet_targets(user) -> list[tuple[str, object]]:
    """The wallet and its latest holds (an operator releases a hold, adjusts a wallet)."""
    wallet = _wallet_of(user)
    if wallet is None:
        return []
    holds = Hold.objects.filter(wallet=wallet).order_by("-created_at").values_list("pk", flat=True)[:50]
    return [("wallet.wallet", wallet.pk), *(("wallet.hold", pk) for pk in holds)]


def register() -> None:
    for section in (
        CustomerSection(key="wallet", title="Wallet", template="admin/customer/wallet.html", build=customer_wallet,
                        permissions=("wallet.view_wallet", "wallet.view_energylot"), order=20),
        CustomerSection(key="holds", title="Pending holds", template="admin/customer/holds.html",
                        build=customer_holds, permissions=("wallet.view_hold",), order=21),
        CustomerSection(key="operations", title="Latest operations", template="admin/customer/operations.html",
                        build=customer_operations, permissions=("wallet.view_balanceoperation",), order=22),
        CustomerSection(key="usage", title="Usage events", template="admin/customer/usage.html",
                        build=customer_usage, permissions=("wallet.view_usageevent",), order=50),
        CustomerSection(key="incidents", title="Incidents", template="admin/customer/incidents.html",
                        build=customer_incidents, permissions=("wallet.view_incident",), order=60),
    ):
        register_customer_section(section)
    register_customer_search(customer_search_wallet)
    register_customer_targets(customer_wallet_targets)
