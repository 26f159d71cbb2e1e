"""Collaborators linked to a pro account, and their unlinking."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from licenses.errors import AlreadyLinked, CannotLinkOwner, NotACollaborator
from licenses.models import License, LicenseStatus, Membership, PendingAssignment, ProAccount
from licenses.services.common import abort_pending, license_event, lock_account, mark_ending


@transaction.atomic
def collaborator_link(*, pro_account: ProAccount, collaborator, actor=None,
                      now: datetime | None = None) -> Membership:
    """Link a collaborator (allowed during the trial: the pro sees their profile)."""
    now = now or timezone.now()
    account = lock_account(pro_account.pk)
    if collaborator.pk == account.owner_id:
        raise CannotLinkOwner()
    if Membership.objects.filter(pro_account=account, collaborator=collaborator).exists():
        raise AlreadyLinked()
    membership = Membership.objects.create(pro_account=account, collaborator=collaborator)
    license_event(account, "collaborator_linked", now=now, collaborator=collaborator, actor=actor)
    return membership


@transaction.atomic
def collaborator_unlink(*, pro_account: ProAccount, collaborator, actor=None,
                        now: datetime | None = None) -> License | None:
    """Unlink a collaborator (by the pro, or the collaborator leaving).

    Their license of this account becomes ``unlinked``: they keep access until the
    grouped billing date. A pending assignment to them is dropped. Returns the license.
    """
    now = now or timezone.now()
    account = lock_account(pro_account.pk)
    membership = Membership.objects.filter(pro_account=account, collaborator=collaborator).first()
    lic = License.objects.select_for_update(of=("self",)).filter(pro_account=account, assignee=collaborator).first()
    if membership is None and lic is None:
        raise NotACollaborator()
    pending = PendingAssignment.objects.select_for_update(of=("self",)).filter(
        license__pro_account=account, collaborator=collaborator).first()
    if pending is not None:
        abort_pending(pending, account=account, now=now, reason="collaborator_unlinked", actor=actor)
    if membership is not None:
        membership.delete()
        license_event(account, "collaborator_unlinked", now=now, collaborator=collaborator, actor=actor)
    if lic is not None and lic.status in (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED):
        mark_ending(lic, account=account, status=LicenseStatus.UNLINKED, now=now, actor=actor)
    return lic
