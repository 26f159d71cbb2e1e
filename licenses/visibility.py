"""The licenses rule for seeing a collaborator's activity, registered in
`phoenix.core.visibility` (wallet, which owns the activity, consults it there).

`collaborator_is_linked_member` is THE answer to "is this user a linked, consenting member
of this pro account": every reader of the rule goes through it, so a change of what
"linked" means (an invitation the collaborator accepted) is made in that one function.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from licenses.models import Membership, ProAccount
from subscriptions.selectors import access_for_user, access_is_premium


def collaborator_is_linked_member(*, pro_account: ProAccount, user) -> bool:
    """A Membership row is the consenting link: it exists only once the person accepted the
    pro's invitation (licenses.services.invitations), and either side may end it."""
    return Membership.objects.filter(pro_account=pro_account, collaborator_id=user.pk).exists()


def collaborator_activity_visible(*, viewer, subject, now: datetime | None = None) -> bool:
    """The pro owner `viewer` sees `subject`'s activity exactly while `subject` is a linked
    member of the viewer's pro account AND has premium access (TRIAL running, PREMIUM,
    LIFETIME, or an active LICENSED seat)."""
    now = now or timezone.now()
    if viewer.pk == subject.pk:
        return False
    account = ProAccount.objects.filter(owner_id=viewer.pk).first()
    if account is None or not collaborator_is_linked_member(pro_account=account, user=subject):
        return False
    return access_is_premium(access_for_user(subject), now=now)
