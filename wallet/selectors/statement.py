"""A user's verifiable statement: their operations with seq and chain hashes, and the head."""

from __future__ import annotations

from datetime import datetime

from wallet.hashing import epoch_microseconds
from wallet.models import GENESIS_HASH, BalanceOperation, Wallet

STATEMENT_FIELDS = ("seq", "type", "amount", "balance_before", "balance_after", "held_before", "held_after",
                    "hold_id", "refund_of_id", "source", "reason", "reference", "actor_id", "idempotency_key",
                    "created_at", "prev_hash", "hash")


def wallet_statement(*, user, date_from: datetime | None = None, date_to: datetime | None = None) -> dict:
    """The statement of `user`'s wallet for [date_from, date_to) (open ends: everything). The
    head is read first and operations appended after it are left out, so the statement is a
    consistent prefix of the chain."""
    wallet = Wallet.objects.filter(user_id=user.pk).only("id", "last_seq", "last_hash").first()
    if wallet is None:  # no wallet yet: an empty chain
        return {"user_id": str(user.public_id), "wallet_id": None, "from": date_from, "to": date_to,
                "head": {"seq": 0, "hash": GENESIS_HASH}, "operations": []}
    operations = BalanceOperation.objects.filter(wallet_id=wallet.pk, seq__lte=wallet.last_seq).order_by("seq")
    if date_from is not None:
        operations = operations.filter(created_at__gte=date_from)
    if date_to is not None:
        operations = operations.filter(created_at__lt=date_to)
    rows = []
    for values in operations.values_list(*STATEMENT_FIELDS):
        row = dict(zip(STATEMENT_FIELDS, values, strict=True))
        row["hold_id"] = str(row["hold_id"]) if row["hold_id"] is not None else None
        row["created_at_us"] = epoch_microseconds(row["created_at"])
        rows.append(row)
    return {"user_id": str(user.public_id), "wallet_id": wallet.pk, "from": date_from, "to": date_to,
            "head": {"seq": wallet.last_seq, "hash": wallet.last_hash}, "operations": rows}
