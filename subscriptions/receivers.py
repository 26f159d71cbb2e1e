"""Every signal receiver of `subscriptions` (connected in `SubscriptionsConfig.ready`)."""

from __future__ import annotations

from subscriptions.services import access_open_trial


def open_trial_on_registration(sender, *, user, **kwargs) -> None:
    """`phoenix.accounts.signals.user_registered`: open the TRIAL inside the registration
    transaction, so a failure rolls the registration back."""
    access_open_trial(user=user)
