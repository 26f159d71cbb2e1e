"""Every write on users: registration, login tokens, logout, GDPR erasure."""

from __future__ import annotations

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from phoenix.accounts.errors import EmailTaken, InvalidCredentials, WeakPassword
from phoenix.accounts.models import User, normalize_email
from phoenix.accounts.signals import user_erased, user_registered


@transaction.atomic
def user_register(*, email: str, password: str) -> tuple[User, str]:
    """Create a user, their API token, and (through `user_registered`) access and wallet."""
    email = normalize_email(email)
    candidate = User(email=email)
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise WeakPassword(fields={"password": list(exc.messages)}) from None

    if User.objects.filter(email=email).exists():
        raise EmailTaken()
    try:
        # A savepoint, so a concurrent duplicate surfaces as EmailTaken, not a broken
        # transaction.
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
    except IntegrityError:
        raise EmailTaken() from None

    token = Token.objects.create(user=user)
    user_registered.send(sender=User, user=user)
    return user, token.key


def user_login(*, email: str, password: str, request=None) -> tuple[User, str]:
    user = authenticate(request, email=normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return user, token.key


def user_logout(*, user: User) -> None:
    Token.objects.filter(user=user).delete()


@transaction.atomic
def user_erase(*, user: User, password: str) -> None:
    """GDPR erasure: anonymize personal data, revoke access, keep financial records.

    The row stays (balance operations, payments and licenses point to it); the e-mail
    becomes a placeholder that cannot receive mail or log in.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(password):
        raise InvalidCredentials("The password is incorrect.")
    user_erased.send(sender=User, user=user)
    Token.objects.filter(user=user).delete()
    user.email = f"erased-{user.public_id}@erased.invalid"
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.last_login = None
    user.erased_at = timezone.now()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
