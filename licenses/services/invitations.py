"""Invitations: a pro invites a person by e-mail; only the person's acceptance links them.

Until then the pro learns nothing about the address (the same answer whether it has an
account or not), no membership exists, no seat or access changes and nothing is asked of
Stripe. The acceptance carries the person's explicit consent to the cancellation of their
own paid plan should the pro assign them a seat (``premium_cancel_consent``). Every step is
a license event. Lock order: ProAccount -> Invitation (then a membership, see memberships).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from licenses.errors import (
    AccountRequired,
    AlreadyLinked,
    CannotLinkOwner,
    InvitationExpired,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
)
from licenses.models import Invitation, InvitationStatus, Membership, ProAccount
from licenses.services.common import license_event, lock_account
from licenses.services.memberships import collaborator_link
from phoenix.accounts.models import normalize_email

TOKEN_SALT = "licenses.invitation"
logger = structlog.get_logger("phoenix.licenses.invitations")


def invitation_token(invitation: Invitation) -> str:
    """The signed link's token: the invitation's id, signed with SECRET_KEY."""
    return signing.dumps(str(invitation.public_id), salt=TOKEN_SALT)


def invitation_for_token(token: str) -> Invitation:
    try:
        public_id = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        raise InvitationNotFound() from None
    invitation = Invitation.objects.filter(public_id=public_id).first()
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def invitation_user(invitation: Invitation):
    """The account the invited address belongs to (None: register first)."""
    return get_user_model().objects.filter(email=invitation.email, is_active=True).first()


def _send_invitation_mail(invitation: Invitation) -> None:
    """After commit. A mail server failure is logged, not answered: the invitation exists
    (the pro may revoke and invite again)."""
    try:
        _invitation_mail(invitation)
    except OSError as exc:  # SMTP errors are OSErrors
        logger.warning("invitation_mail_failed", invitation=str(invitation.public_id), error=str(exc)[:300])


def _invitation_mail(invitation: Invitation) -> None:
    link = settings.PRO_INVITATION_URL.format(token=invitation_token(invitation))
    owner = invitation.pro_account.owner.email
    send_mail(
        subject="You are invited to join a pro account on Phoenix",
        message=(f"{owner} invites you to join their pro account on Phoenix.\n\n"
                 f"Open this link to accept or decline (sign in, or register with this address first): "
                 f"{link}\n\nThe invitation expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
                 "Nothing is shared with the pro unless you accept."),
        from_email=None, recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_send(*, pro_account: ProAccount, email: str, actor, now: datetime | None = None) -> Invitation:
    """Invite ``email``. The answer never depends on whether the address has an account."""
    now = now or timezone.now()
    email = normalize_email(email)
    account = lock_account(pro_account.pk)
    if email == normalize_email(account.owner.email):
        raise CannotLinkOwner()
    # The pro already sees their collaborators' addresses: saying so reveals nothing new.
    if Membership.objects.filter(pro_account=account, collaborator__email=email).exists():
        raise AlreadyLinked()
    open_one = Invitation.objects.select_for_update().filter(
        pro_account=account, email=email, status=InvitationStatus.PENDING).first()
    if open_one is not None:
        if open_one.expires_at > now:
            raise InvitationPending()
        # A lapsed one the hourly job has not closed yet gives way to the new one.
        _close(open_one, status=InvitationStatus.EXPIRED, now=now, actor=None, reason="superseded")
    invitation = Invitation.objects.create(
        pro_account=account, email=email, invited_by=actor,
        expires_at=now + timedelta(days=settings.PRO_INVITATION_DAYS),
    )
    license_event(account, "invitation_sent", now=now, actor=actor, invitation=str(invitation.public_id),
                  email=email, expires_at=invitation.expires_at.isoformat())
    transaction.on_commit(lambda: _send_invitation_mail(invitation))
    return invitation


def _lock_pending(invitation: Invitation, *, now: datetime) -> tuple[ProAccount, Invitation]:
    account = lock_account(invitation.pro_account_id)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise InvitationNotPending(status=invitation.status)
    if invitation.expires_at <= now:
        raise InvitationExpired()
    return account, invitation


def _close(invitation: Invitation, *, status: str, now: datetime, actor, reason: str = "") -> None:
    invitation.status = status
    invitation.responded_at = now
    if status in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED):
        invitation.responded_by = actor
    invitation.save()
    detail = {"invitation": str(invitation.public_id), "email": invitation.email}
    if reason:
        detail["reason"] = reason
    license_event(invitation.pro_account, f"invitation_{status}", now=now, actor=actor,
                  collaborator=actor if status in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED) else None,
                  **detail)


def _check_invitee(invitation: Invitation, user) -> None:
    # Another account answering someone else's invitation learns nothing either.
    if user is None or normalize_email(user.email) != invitation.email:
        raise InvitationNotFound()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, premium_cancel_consent: bool = False,
                      now: datetime | None = None) -> Membership:
    """The invited person accepts: they become a collaborator. ``premium_cancel_consent``:
    they agree that a seat the pro assigns them cancels their own paid plan."""
    now = now or timezone.now()
    _check_invitee(invitation, user)
    account, invitation = _lock_pending(invitation, now=now)
    if user.pk == account.owner_id:
        raise CannotLinkOwner()
    membership = collaborator_link(pro_account=account, collaborator=user, actor=user, now=now)
    invitation.premium_cancel_consent = premium_cancel_consent
    _close(invitation, status=InvitationStatus.ACCEPTED, now=now, actor=user)
    membership.invitation = invitation
    membership.premium_cancel_consent = premium_cancel_consent
    membership.save(update_fields=["invitation", "premium_cancel_consent"])
    license_event(account, "premium_cancel_consent", now=now, actor=user, collaborator=user,
                  invitation=str(invitation.public_id), consent=premium_cancel_consent)
    return membership


@transaction.atomic
def invitation_decline(*, invitation: Invitation, user, now: datetime | None = None) -> Invitation:
    now = now or timezone.now()
    _check_invitee(invitation, user)
    _account, invitation = _lock_pending(invitation, now=now)
    _close(invitation, status=InvitationStatus.DECLINED, now=now, actor=user)
    return invitation


@transaction.atomic
def invitation_respond_by_token(*, token: str, decision: str, premium_cancel_consent: bool = False,
                                now: datetime | None = None) -> Invitation:
    """The signed link: holding it proves the address; its account answers."""
    invitation = invitation_for_token(token)
    user = invitation_user(invitation)
    if user is None:
        raise AccountRequired()
    if decision == "accept":
        invitation_accept(invitation=invitation, user=user, premium_cancel_consent=premium_cancel_consent, now=now)
    else:
        invitation_decline(invitation=invitation, user=user, now=now)
    invitation.refresh_from_db()
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor, now: datetime | None = None) -> Invitation:
    """The pro withdraws a pending invitation (also a lapsed one)."""
    now = now or timezone.now()
    lock_account(invitation.pro_account_id)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise InvitationNotPending(status=invitation.status)
    _close(invitation, status=InvitationStatus.REVOKED, now=now, actor=actor)
    return invitation


def invitation_expire(*, account: ProAccount, public_id: str, now: datetime) -> bool:
    """The hourly job (under the account's lock): a pending invitation past its date is
    stored ``expired``, with its license event. Returns whether it changed anything."""
    invitation = Invitation.objects.select_for_update().filter(
        pro_account=account, public_id=public_id, status=InvitationStatus.PENDING, expires_at__lte=now).first()
    if invitation is None:
        return False
    _close(invitation, status=InvitationStatus.EXPIRED, now=now, actor=None)
    return True
