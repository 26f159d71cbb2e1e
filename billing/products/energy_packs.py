"""Energy packs as a product kind: quoted from the wallet catalogue, fulfilled by the ledger.

A pack purchase credits the pack's energy plus, on the user's first pack only, the pack's
first-purchase bonus (10 % for ``cafe_luna``), as one ``credit`` keyed
``payment:<payment pk>`` with two lots: the paid points (the pack's validity, its price) and
the bonus (the wallet's bonus validity). Refunds and disputes revoke that purchase's lots with
``wallet_clawback`` (at most their remaining; the rest is the reversal's shortfall).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from billing.errors import UnknownProduct, UnlimitedCannotBuyPacks
from billing.models import Payment, PaymentStatus
from billing.products.base import ENERGY_PACK, ProductKind, Quote
from subscriptions.selectors import has_unlimited_energy
from wallet.models import EnergyPack, OperationSource
from wallet.services import pack_purchase_lots, wallet_clawback, wallet_credit


def _pack(code: str, *, purchasing: bool):
    packs = EnergyPack.objects.filter(code=code)
    if purchasing:
        # The unlimited "pack" is the PREMIUM subscription, sold by subscriptions.
        packs = packs.filter(is_active=True, is_unlimited=False)
    pack = packs.first()
    if pack is None:
        raise UnknownProduct(f"No energy pack {code!r} for sale.")
    return pack


def energy_pack_quote(*, user, code: str, purchasing: bool = True) -> Quote:
    pack = _pack(code, purchasing=purchasing)
    if purchasing and has_unlimited_energy(user):
        raise UnlimitedCannotBuyPacks()
    return Quote(
        amount_cents=pack.price_cents,
        currency=pack.currency.lower(),
        label=pack.label,
        snapshot={
            "code": pack.code,
            "energy_points": pack.energy_points,
            "first_purchase_bonus_percent": pack.first_purchase_bonus_percent,
            "validity_days": pack.validity_days,
        },
    )


def energy_pack_fulfill(*, payment: Payment) -> int:
    snapshot = payment.metadata.get("product") or {}
    if "energy_points" not in snapshot:  # older row without a snapshot: today's catalogue
        snapshot = energy_pack_quote(user=payment.user, code=payment.product_code, purchasing=False).snapshot
    points = int(snapshot["energy_points"])
    # Serialize a user's pack fulfilments, so two first purchases cannot both get the bonus.
    get_user_model().objects.select_for_update().filter(pk=payment.user_id).first()
    first_pack = not Payment.objects.filter(
        user_id=payment.user_id, product_kind=ENERGY_PACK, fulfilled_at__isnull=False,
        status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED],
    ).exclude(pk=payment.pk).exists()
    bonus = points * int(snapshot.get("first_purchase_bonus_percent") or 0) // 100 if first_pack else 0
    reason = f"Energy pack {payment.product_code}"
    if bonus:
        reason += f" ({points} + {bonus} first-purchase bonus)"
    operation = wallet_credit(
        user=payment.user,
        amount=points + bonus,
        source=OperationSource.STRIPE,
        reason=reason,
        reference=payment.idempotency_key,
        idempotency_key=payment.idempotency_key,
        lots=pack_purchase_lots(points=points, bonus=bonus, validity_days=snapshot.get("validity_days"),
                                price_cents=payment.amount_cents),
    )
    return int(operation.amount)


def energy_pack_reverse(*, payment: Payment, quantity: int, idempotency_key: str, reason: str) -> tuple[int, int]:
    result = wallet_clawback(
        user=payment.user,
        amount=quantity,
        source=OperationSource.STRIPE,
        reason=f"Clawback of energy pack {payment.product_code}: {reason}",
        reference=payment.idempotency_key,
        idempotency_key=idempotency_key,
    )
    return result.debited, result.shortfall


ENERGY_PACK_KIND = ProductKind(
    name=ENERGY_PACK, quote=energy_pack_quote, fulfill=energy_pack_fulfill, reverse=energy_pack_reverse,
)
