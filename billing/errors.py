"""Every billing error: the typed API errors (rendered in the one error shape) and the two
internal exceptions the webhook handlers raise or catch.

``ProAccountNotSuspended`` is the licenses one (``licenses.services``; ``licenses.errors``
after the re-layout): billing's regularize raises it with its own detail text.
"""

from __future__ import annotations

from rest_framework import status

from phoenix.core.errors import ConflictError, NotFoundError, PhoenixError, ServiceUnavailableError


class StripeNotConfigured(ServiceUnavailableError):
    code = "stripe_not_configured"
    default_detail = "Payments are not available: Stripe is not configured."


class StripeUnavailable(ServiceUnavailableError):
    code = "stripe_unavailable"
    default_detail = "Stripe could not be reached or refused the request; try again later."


class UnlimitedCannotBuyPacks(ConflictError):
    code = "unlimited_cannot_buy_packs"
    default_detail = "Users with unlimited energy cannot buy energy packs."


class UnknownProduct(NotFoundError):
    code = "unknown_product"
    default_detail = "No such product for sale."


class CheckoutRequired(PhoenixError):
    code = "checkout_required"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "This product is a subscription: buy it through POST /billing/checkout."


class AlreadyPremium(ConflictError):
    code = "already_premium"
    default_detail = "The user already has a monthly subscription (resume it if it is canceled)."


class SeatPurchaseInProgress(ConflictError):
    code = "seat_purchase_in_progress"
    default_detail = "Another seat purchase for this pro account is being processed; try again."


class PaymentNotFound(NotFoundError):
    code = "payment_not_found"
    default_detail = "No such payment."


class IllegalPaymentTransition(ConflictError):
    """A payment status change outside the Payment state machine."""

    code = "illegal_payment_transition"
    default_detail = "This payment cannot move to that status."


class InvalidWebhook(PhoenixError):
    code = "invalid_webhook"
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The webhook could not be verified."


class WebhookProcessingFailed(PhoenixError):
    """A handler failed: answered 5xx so Stripe retries; the failure is recorded."""

    code = "webhook_processing_failed"
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "The event was stored but processing failed; it will be retried."


class WebhookEventNotFailed(ConflictError):
    code = "webhook_event_not_failed"
    default_detail = "Only a failed or received event can be re-processed."


class IncidentNotOpen(ConflictError):
    code = "incident_not_open"
    default_detail = "The incident is already resolved."


class ShortfallAlreadySettled(ConflictError):
    code = "shortfall_resolved"
    default_detail = "The shortfall is already settled."


class NoOpenInvoice(ConflictError):
    code = "no_open_invoice"
    default_detail = ("No unpaid invoice to pay for this pro account (suspended by an operator, or "
                      "the grouped subscription ended): contact support.")


class ForeignStripeObject(Exception):
    """The Stripe object was not created by Phoenix billing (no phoenix metadata)."""


class PaymentNotYetKnown(Exception):
    """A charge of ours arrived before the event linking it to its payment: retry later."""


class StripeCustomerMissing(ConflictError):
    """The user has no Stripe Customer yet (no purchase): nothing for the portal to show."""

    code = "stripe_customer_missing"
    default_detail = "You have no Stripe customer yet: make a purchase first."


class PaymentNotRefundable(ConflictError):
    """Only a succeeded, undisputed payment with something left to refund can be refunded."""

    code = "payment_not_refundable"
    default_detail = "This payment cannot be refunded."


class RefundRefused(ConflictError):
    """Stripe refused the refund (already refunded, more than is left, disputed charge): its
    message says why; nothing was recorded."""

    code = "refund_refused"
    default_detail = "Stripe refused the refund."
