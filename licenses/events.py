"""The license.changed / pro_account.changed outbound webhook events (phoenix.outbound),
emitted by `license_event` (every pro account and license change writes one), in its
transaction. Bodies as documented in phoenix/outbound/catalogue.py."""

from __future__ import annotations

from licenses.models import License, LicenseEvent, ProAccount
from phoenix.outbound.outbox import emit, pro_account_subject


def license_event_emit(event: LicenseEvent, *, account: ProAccount, lic: License | None) -> None:
    subject = pro_account_subject(account.public_id)
    if lic is not None:
        emit(type="license.changed", subject=subject, body={
            "pro_account_id": str(account.public_id), "license_id": str(lic.public_id), "kind": event.kind,
            "license_kind": lic.kind, "from_status": event.from_status, "to_status": event.to_status,
            "assignee_user_id": lic.assignee_id})
    else:
        emit(type="pro_account.changed", subject=subject, body={
            "pro_account_id": str(account.public_id), "owner_user_id": account.owner_id, "kind": event.kind,
            "from_status": event.from_status, "status": account.status,
            "collaborator_user_id": event.collaborator_id})
