"""OpenAPI examples of the billing endpoints: bodies as the API sends them, with the seeded catalogue's codes."""

from __future__ import annotations

from billing.errors import (
    AlreadyPremium,
    CheckoutRequired,
    NoOpenInvoice,
    PaymentNotFound,
    SeatPurchaseInProgress,
    StripeCustomerMissing,
    StripeNotConfigured,
    StripeUnavailable,
    UnknownProduct,
    UnlimitedCannotBuyPacks,
    WebhookProcessingFailed,
)
from billing.services.pro_seats import REGULARIZE_NOT_SUSPENDED
from licenses.errors import (
    InvalidQuantity,
    PlanNotConfigured,
    ProAccountNotActive,
    ProAccountNotFound,
    ProAccountNotSuspended,
)
from phoenix.core.openapi import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    IDEMPOTENCY_CONFLICT,
    INVALID_IDEMPOTENCY_KEY,
    NOT_AUTHENTICATED,
    UNAUTHENTICATED_RESPONSE,
    USER_ID_REQUIRED,
    USER_NOT_FOUND,
    error_example,
    error_response,
    request_example,
    success_example,
    validation_error,
)
from subscriptions.api import examples as access_examples
from subscriptions.errors import AlreadyLifetime, NotPremium

PAYMENT_ID = "6f1d2a4e-3b5c-4d7e-9f80-a1b2c3d4e5f6"
CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4e5F6g7H8"
PAYMENT_INTENT_ID = "pi_3QfZ2kLmNoPqRsTu1AbCdEfG"

# --- Errors ------------------------------------------------------------------------------------

STRIPE_NOT_CONFIGURED = error_example(StripeNotConfigured, summary="stripe_not_configured: no Stripe keys")
STRIPE_UNAVAILABLE = error_example(StripeUnavailable, summary="stripe_unavailable: Stripe unreachable or refusing")
STRIPE_ERRORS = error_response(STRIPE_NOT_CONFIGURED, STRIPE_UNAVAILABLE)
UNKNOWN_PRODUCT = error_example(UnknownProduct, summary="unknown_product: no such product on sale")
UNLIMITED_NO_PACKS = error_example(UnlimitedCannotBuyPacks)
ALREADY_LIFETIME = error_example(AlreadyLifetime)

PAY_BAD_REQUEST = error_response(validation_error({"product": ["This field is required."]}), USER_ID_REQUIRED,
                                 INVALID_IDEMPOTENCY_KEY)
PAY_NOT_FOUND = error_response(USER_NOT_FOUND, UNKNOWN_PRODUCT)

# --- Requests and answers ------------------------------------------------------------------

CHECKOUT_ANSWER = success_example("checkout", {"payment_id": PAYMENT_ID, "checkout_url": CHECKOUT_URL}, status=201,
                                  summary="Redirect the user to checkout_url")

PURCHASE = [
    request_example("cafe_luna", {"user_id": EXAMPLE_USER_ID, "pack": "cafe_luna",
                                  "idempotency_key": "luna-buy-2041"}),
    CHECKOUT_ANSWER,
]
PURCHASE_RESPONSES = {
    400: error_response(validation_error({"pack": ["This field is required."]}), USER_ID_REQUIRED,
                        INVALID_IDEMPOTENCY_KEY),
    401: UNAUTHENTICATED_RESPONSE,
    404: PAY_NOT_FOUND,
    409: error_response(UNLIMITED_NO_PACKS, IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

CHECKOUT = [
    request_example("energy pack", {"user_id": EXAMPLE_USER_ID, "product": "cafe_luna",
                                    "idempotency_key": "luna-buy-2041"}),
    request_example("monthly plan", {"product": "luna_unlimited"},
                    summary="luna_unlimited: monthly PREMIUM (a subscription Checkout)"),
    request_example("lifetime plan", {"product": "plan:luna_lifetime"},
                    summary="luna_lifetime: LIFETIME access (a one-off payment)"),
    CHECKOUT_ANSWER,
]
CHECKOUT_RESPONSES = {
    400: PAY_BAD_REQUEST,
    401: UNAUTHENTICATED_RESPONSE,
    404: PAY_NOT_FOUND,
    409: error_response(UNLIMITED_NO_PACKS, ALREADY_LIFETIME, error_example(AlreadyPremium), IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

CREATE_INTENT = [
    request_example("energy pack", {"user_id": EXAMPLE_USER_ID, "product": "cafe_luna",
                                    "idempotency_key": "luna-intent-2041"}),
    success_example("intent", {
        "payment_id": PAYMENT_ID, "payment_intent_id": PAYMENT_INTENT_ID,
        "client_secret": PAYMENT_INTENT_ID + "_secret_x1Y2z3", "amount_cents": 299, "currency": "eur",
        "publishable_key": "pk_test_51Hx0a2b3c4d5e6f7",
    }, status=201, summary="Confirm client_secret with Stripe.js, then POST /billing/confirm-payment"),
]
CREATE_INTENT_RESPONSES = {
    400: error_response(error_example(CheckoutRequired, summary="checkout_required: a subscription product"),
                        validation_error({"product": ["This field is required."]}), USER_ID_REQUIRED,
                        INVALID_IDEMPOTENCY_KEY),
    401: UNAUTHENTICATED_RESPONSE,
    404: PAY_NOT_FOUND,
    409: error_response(UNLIMITED_NO_PACKS, ALREADY_LIFETIME, IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

PAYMENT = {
    "id": PAYMENT_ID, "status": "succeeded", "flow": "payment_intent", "product_kind": "energy_pack",
    "product": "cafe_luna", "amount_cents": 299, "currency": "eur", "amount_refunded_cents": 0,
    "energy_credited": 110, "created_at": EXAMPLE_TIME, "status_changed_at": "2026-12-01T22:17:40.118204Z",
}
CONFIRM = [
    request_example("intent", {"user_id": EXAMPLE_USER_ID, "payment_intent_id": PAYMENT_INTENT_ID,
                               "idempotency_key": "luna-intent-2041-confirm"}),
    success_example("succeeded", PAYMENT, summary="Succeeded: the pack's points (and a first-purchase bonus) "
                    "are credited once"),
]
CONFIRM_RESPONSES = {
    400: error_response(validation_error({"payment_intent_id": ["This value does not match the required pattern."]}),
                        USER_ID_REQUIRED, INVALID_IDEMPOTENCY_KEY),
    401: UNAUTHENTICATED_RESPONSE,
    404: error_response(USER_NOT_FOUND, error_example(PaymentNotFound)),
    409: error_response(IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

HISTORY = [success_example("payment", {**PAYMENT, "flow": "checkout"}, summary="A page, newest first "
                           "(one entry shown)")]
HISTORY_RESPONSES = {401: UNAUTHENTICATED_RESPONSE, 404: error_response(USER_NOT_FOUND)}

WEBHOOK = [
    request_example("checkout.session.completed", {
        "id": "evt_1QfZ3aLmNoPqRsTu", "object": "event", "type": "checkout.session.completed",
        "created": 1796164622, "livemode": False,
        "data": {"object": {"id": "cs_test_a1B2c3D4e5F6g7H8", "object": "checkout.session",
                            "payment_status": "paid", "metadata": {"payment_id": PAYMENT_ID}}},
    }, summary="A Stripe event (Stripe sends it; the Stripe-Signature header signs the raw body)"),
    success_example("processed", {"received": True, "status": "processed"}),
    success_example("ignored", {"received": True, "status": "ignored"}, summary="An event type Phoenix does not "
                    "handle (or one already processed)"),
]
WEBHOOK_RESPONSES = {
    400: error_response(  # InvalidWebhook, under three codes
        error_example("missing_signature", "Missing Stripe-Signature header."),
        error_example("invalid_signature", "No signatures found matching the expected signature for payload",
                      summary="invalid_signature: a bad signature, or older than 300 s"),
        error_example("malformed_payload", "The body is not valid JSON."),
    ),
    500: error_response(error_example(WebhookProcessingFailed,
                                      summary="webhook_processing_failed: stored, rolled back; Stripe retries")),
    503: error_response(error_example(StripeNotConfigured, "Webhooks cannot be verified: STRIPE_WEBHOOK_SECRET "
                                      "is not set.", summary="stripe_not_configured: no webhook secret")),
}

SUBJECT = request_example("satellite", {"user_id": EXAMPLE_USER_ID, "idempotency_key": "letters-cancel-2041"})
CANCEL = [SUBJECT, success_example("cancel at period end", access_examples.PREMIUM_CANCELING,
                                   summary="PREMIUM until current_period_end, then EXPIRED")]
RESUME = [SUBJECT, success_example("resumed", access_examples.PREMIUM)]
CANCEL_RESPONSES = {
    400: error_response(validation_error({"user_id": ["Must be a valid UUID."]}), USER_ID_REQUIRED,
                        INVALID_IDEMPOTENCY_KEY),
    401: UNAUTHENTICATED_RESPONSE,
    404: error_response(USER_NOT_FOUND),
    409: error_response(error_example(NotPremium, summary="not_premium: no monthly subscription to change"),
                        IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

NO_PRO_ACCOUNT = error_example(ProAccountNotFound, summary="pro_account_not_found: the caller owns no pro account")
SEAT_PURCHASE = [
    request_example("monthly seats", {"kind": "monthly", "quantity": 3, "idempotency_key": "seats-2026-12-01"}),
    request_example("lifetime seats", {"kind": "lifetime", "quantity": 1}),
    success_example("checkout", {
        "outcome": "checkout", "payment_id": PAYMENT_ID, "checkout_url": CHECKOUT_URL, "license_ids": [],
        "amount_cents": 8997, "prorated_unit_cents": None, "billed": "now", "next_billing_at": None,
    }, status=201, summary="checkout: pay at checkout_url (lifetime seats, or the first monthly seats)"),
    success_example("added", {
        "outcome": "added", "payment_id": None, "checkout_url": "",
        "license_ids": ["0d8c4f5e-7a1b-4c2d-9e3f-5a6b7c8d9e0f", "1e9d5a6f-8b2c-4d3e-af40-6b7c8d9e0fa1"],
        "amount_cents": 1934, "prorated_unit_cents": 967, "billed": "next_grouped_date",
        "next_billing_at": "2026-12-15T00:00:00Z",
    }, status=201, summary="added: monthly seats added now, prorated, billed on the grouped date"),
]
SEAT_PURCHASE_RESPONSES = {
    400: error_response(validation_error({"kind": ['"yearly" is not a valid choice.']}),
                        error_example(InvalidQuantity), INVALID_IDEMPOTENCY_KEY),
    401: error_response(NOT_AUTHENTICATED),
    404: error_response(NO_PRO_ACCOUNT),
    409: error_response(error_example(ProAccountNotActive, summary="pro_account_not_active: suspended, "
                                      "regularize first"), error_example(SeatPurchaseInProgress),
                        IDEMPOTENCY_CONFLICT),
    503: error_response(STRIPE_NOT_CONFIGURED, STRIPE_UNAVAILABLE, error_example(PlanNotConfigured)),
}

REGULARIZE = [success_example("open invoice", {
    "status": "suspended", "invoice_id": "in_1QfZ4bLmNoPqRsTuVwXy", "amount_due": 8997, "currency": "eur",
    "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Hx0a2b3/test_YWNjdF8xSHgw", "attempt_count": 4,
}, summary="Send the pro to hosted_invoice_url")]
REGULARIZE_RESPONSES = {
    400: error_response(INVALID_IDEMPOTENCY_KEY),
    401: error_response(NOT_AUTHENTICATED),
    404: error_response(NO_PRO_ACCOUNT),
    409: error_response(error_example(ProAccountNotSuspended, REGULARIZE_NOT_SUSPENDED, status="active",
                                      summary="pro_account_not_suspended: nothing to regularize"),
                        error_example(NoOpenInvoice, summary="no_open_invoice: no unpaid invoice at Stripe"),
                        IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}

PORTAL = [
    request_example("for a satellite's user", {"user_id": EXAMPLE_USER_ID, "idempotency_key": "portal-2041"}),
    success_example("portal", {"url": "https://billing.stripe.com/p/session/test_YWNjdF8xUWZa",
                               "customer_id": "cus_RbCdEfGhIjKlMn"}, status=201,
                    summary="Redirect the user to url"),
]
PORTAL_RESPONSES = {
    400: error_response(USER_ID_REQUIRED, INVALID_IDEMPOTENCY_KEY),
    401: UNAUTHENTICATED_RESPONSE,
    404: error_response(USER_NOT_FOUND),
    409: error_response(error_example(StripeCustomerMissing), IDEMPOTENCY_CONFLICT),
    503: STRIPE_ERRORS,
}
