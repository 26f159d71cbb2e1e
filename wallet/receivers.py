"""Signal receivers: thin, they call a service."""

from __future__ import annotations

from wallet.selectors.catalogue import catalogue_changed_on_commit
from wallet.services import wallet_open


def open_wallet_on_registration(sender, *, user, **kwargs) -> None:
    """`user_registered` is sent inside the registration transaction: if this fails, the
    user is not created either."""
    wallet_open(user=user, welcome_grant=True)


def catalogue_changed(sender, **kwargs) -> None:
    """An action or pack was saved or deleted: the processes' catalogue snapshots are stale."""
    catalogue_changed_on_commit()
