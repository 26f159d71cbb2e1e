"""Licenses operator actions, taken in the admin: each calls the licenses
service and writes the `AdminAction` row in the same transaction as the change."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count

from licenses import services
from licenses.models import ProAccount
from phoenix.core.services import operator_action, operator_reason


def _account_state(pro_account_id: int) -> dict:
    account = ProAccount.objects.get(pk=pro_account_id)
    seats = {row["status"]: row["n"] for row in
             account.licenses.values("status").annotate(n=Count("id")).order_by()}
    return {"status": account.status, "licenses": seats}


@transaction.atomic
def pro_account_set_suspended(*, pro_account: ProAccount, suspended: bool, actor, reason: str) -> ProAccount:
    """Suspend (suspended=True) or reactivate a pro account, audited."""
    reason = operator_reason(reason)
    before = _account_state(pro_account.pk)
    change = services.pro_account_suspend if suspended else services.pro_account_reactivate
    account = change(pro_account=pro_account, actor=actor, reason=reason)
    operator_action(actor=actor, action="pro_account_suspend" if suspended else "pro_account_reactivate",
                    target=account, reason=reason, before=before, after=_account_state(account.pk))
    return account
