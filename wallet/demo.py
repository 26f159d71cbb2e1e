"""Demo ledger activity for `make run` (idempotent: every write carries an idempotency key)."""

from phoenix.accounts.models import User
from phoenix.core.demo import DEMO_EMAILS
from wallet import selectors, services


def seed(out) -> None:
    for user in User.objects.filter(email__in=DEMO_EMAILS):
        services.wallet_open(user=user)  # registration already did; harmless if so
        debit = services.wallet_debit(user=user, amount=15, source="api", reason="demo action",
                                      reference="lettre_motivation", idempotency_key="demo-debit")
        hold = services.wallet_freeze(user=user, amount=30, action_code="mirror_match", ttl_seconds=600,
                                      idempotency_key="demo-freeze")
        services.wallet_commit(hold_id=hold.pk, amount=25, idempotency_key="demo-commit")
        services.wallet_refund_debit(operation_id=debit.pk, reason="demo: action failed",
                                     idempotency_key="demo-refund")
        balance = selectors.wallet_balance(user)
        out.write(f"demo wallet {user.email}: {balance['available']} points available")
