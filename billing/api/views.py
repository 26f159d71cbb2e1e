"""Billing endpoints: thin, each calls one service or selector."""

from __future__ import annotations

import hashlib

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.api import examples as ex
from billing.api import serializers as s
from billing.products import ENERGY_PACK, PLAN
from billing.products.plans import individual_plan_code
from billing.services import customers as customer_billing
from billing.services import payments as payment_services
from billing.services import pro_seats as pro_seat_billing
from billing.services import subscriptions as subscription_billing
from billing.services.webhooks import webhook_receive
from phoenix.core.api import IsUserOrSatellite, resolve_subject_user
from phoenix.core.idempotency import (
    idempotent,
    request_fingerprint,
    request_idempotency_key,
    request_principal,
)
from phoenix.core.input_policy import StrictPaging
from phoenix.core.openapi import EXAMPLE_USER_ID, IDEMPOTENCY_HEADER, USER_ID_PATH, USER_ID_RULE
from subscriptions.api.serializers import AccessSerializer
from subscriptions.selectors import access_summary


def stripe_request_key(request) -> str | None:
    """The client's ``Idempotency-Key``, scoped to the caller and the request (``@idempotent``
    already refused a reuse with another body), as the base of the key sent to Stripe: a
    retry whose first attempt reached Stripe but not our commit gets the same Stripe object."""
    key = request_idempotency_key(request)
    if key is None:
        return None
    scoped = f"{request_principal(request)}\n{key}\n{request_fingerprint(request)}"
    return hashlib.sha256(scoped.encode()).hexdigest()[:32]


def _checkout(request, *, user_id, kind: str, code: str) -> Response:
    user = resolve_subject_user(request, user_id)
    payment, url = payment_services.payment_checkout_start(
        user=user, product_kind=kind, product_code=code, request_key=stripe_request_key(request),
    )
    return Response({"payment_id": payment.public_id, "checkout_url": url}, status=status.HTTP_201_CREATED)


class EnergyPurchaseView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["luna"], request=s.PurchaseRequestSerializer,
        responses={201: s.CheckoutResponseSerializer, **ex.PURCHASE_RESPONSES}, examples=ex.PURCHASE,
        summary="Buy an energy pack: a Stripe Checkout Session to redirect the user to.",
        description="`pack`: an energy pack code (`cafe_luna`, `petit_dej_luna`, `repas_luna`; see "
        "`GET /luna/energy/packs`). The energy is credited when Stripe's webhook confirms the payment.\n\n"
        + USER_ID_RULE,
    )
    @idempotent
    def post(self, request):
        data = s.PurchaseRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _checkout(
            request, user_id=data.validated_data.get("user_id"), kind=ENERGY_PACK,
            code=data.validated_data["pack"],
        )


class CheckoutView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["billing"], request=s.ProductRequestSerializer,
        responses={201: s.CheckoutResponseSerializer, **ex.CHECKOUT_RESPONSES}, examples=ex.CHECKOUT,
        summary="A Stripe Checkout Session for a product, to redirect the user to.",
        description=(
            "`product`: an energy pack code (`cafe_luna`), an individual plan (`luna_unlimited`: "
            "monthly PREMIUM, a Checkout in subscription mode; `luna_lifetime`: LIFETIME, a one-off "
            "payment; also as `plan:<code>`), or `<kind>:<code>`. The access changes when Stripe's "
            "webhook confirms the payment.\n\n" + USER_ID_RULE
        ),
    )
    @idempotent
    def post(self, request):
        data = s.ProductRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = data.validated_data["product"]
        kind, code = s.split_product(product)
        if ":" not in product and individual_plan_code(code):
            kind = PLAN  # "luna_unlimited" names the PREMIUM plan, not a pack
        return _checkout(request, user_id=data.validated_data.get("user_id"), kind=kind, code=code)


class CreateIntentView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["billing"], request=s.ProductRequestSerializer,
        responses={201: s.CreateIntentResponseSerializer, **ex.CREATE_INTENT_RESPONSES}, examples=ex.CREATE_INTENT,
        summary="A PaymentIntent for a product, to confirm client-side with Stripe.js.",
        description="One-off products only (energy packs, `luna_lifetime`); a subscription product is 400 "
        "`checkout_required`. After Stripe.js confirms it, call `POST /billing/confirm-payment`.\n\n"
        + USER_ID_RULE,
    )
    @idempotent
    def post(self, request):
        data = s.ProductRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        kind, code = s.split_product(data.validated_data["product"])
        payment, intent = payment_services.payment_intent_start(
            user=user, product_kind=kind, product_code=code, request_key=stripe_request_key(request),
        )
        body = {
            "payment_id": payment.public_id,
            "payment_intent_id": intent["id"],
            "client_secret": intent.get("client_secret") or "",
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ConfirmPaymentView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["billing"], request=s.ConfirmPaymentRequestSerializer,
        responses={200: s.PaymentSerializer, **ex.CONFIRM_RESPONSES}, examples=ex.CONFIRM,
        summary="After client-side confirmation: apply the PaymentIntent's state (credits once).",
        description="The PaymentIntent must be the user's (else 404 `payment_not_found`).\n\n" + USER_ID_RULE,
    )
    @idempotent
    def post(self, request):
        data = s.ConfirmPaymentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        payment = payment_services.payment_confirm(
            user=user, payment_intent_id=data.validated_data["payment_intent_id"]
        )
        return Response(s.PaymentSerializer(payment).data)


class HistoryPagination(StrictPaging, PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response_schema(self, schema):
        body = super().get_paginated_response_schema(schema)  # the schema's example links (DRF's name another API)
        body["properties"]["count"]["example"] = 21
        body["properties"]["next"]["example"] = f"https://phoenix.example.com/billing/history/{EXAMPLE_USER_ID}?page=2"
        body["properties"]["previous"]["example"] = None
        return body


class PaymentHistoryView(APIView):
    permission_classes = [IsUserOrSatellite]
    pagination_class = HistoryPagination

    @extend_schema(
        tags=["billing"],
        parameters=[
            USER_ID_PATH,
            OpenApiParameter("page", int, description="Page number (from 1)."),
            OpenApiParameter("page_size", int, description="Up to 100; default 20."),
        ],
        responses={200: s.PaymentSerializer(many=True), **ex.HISTORY_RESPONSES}, examples=ex.HISTORY,
        summary="The user's payments, newest first (paginated).",
    )
    def get(self, request, user_id: str):
        user = resolve_subject_user(request, user_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.payment_history(user=user), request, view=self)
        return paginator.get_paginated_response(s.PaymentSerializer(page, many=True).data)


class StripeWebhookView(APIView):
    """Stripe calls this; authenticity is the signature, not a session or token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        tags=["stripe"], request=OpenApiTypes.OBJECT, auth=[],
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True,
                                     description="Stripe's signature of the raw body (`t=...,v1=...`).")],
        responses={200: s.WebhookAckSerializer, **ex.WEBHOOK_RESPONSES}, examples=ex.WEBHOOK,
        summary="Stripe events, verified with the Stripe-Signature header.",
        description="Called by Stripe, not by satellites. Each event is applied once (Stripe's event id "
        "dedupes redeliveries); an event type with no handler is acknowledged as `ignored`.",
    )
    def post(self, request):
        # The raw body: the signature covers the exact bytes Stripe sent.
        record = webhook_receive(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature")
        )
        return Response({"received": True, "status": record.status})


# --- subscriptions and pro seats ------------------------------------


class _CancelFlagView(APIView):
    permission_classes = [IsUserOrSatellite]
    cancel: bool

    @idempotent
    def post(self, request):
        data = s.SubjectRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        subscription_billing.premium_set_cancel_at_period_end(
            user=user, cancel=self.cancel, request_key=stripe_request_key(request),
        )
        return Response(AccessSerializer(access_summary(user)).data)


class SubscriptionCancelView(_CancelFlagView):
    cancel = True

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["subscriptions"], request=s.SubjectRequestSerializer,
        responses={200: AccessSerializer, **ex.CANCEL_RESPONSES}, examples=ex.CANCEL,
        summary="Cancel the monthly subscription at its period end (through Stripe).",
        description="The user stays PREMIUM until `current_period_end`, then EXPIRED. Canceling twice "
        "changes nothing.\n\n" + USER_ID_RULE,
    )
    def post(self, request):
        return super().post(request)


class SubscriptionResumeView(_CancelFlagView):
    cancel = False

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["subscriptions"], request=s.SubjectRequestSerializer,
        responses={200: AccessSerializer, **ex.CANCEL_RESPONSES}, examples=ex.RESUME,
        summary="Withdraw a cancellation before the period end (through Stripe).",
        description=USER_ID_RULE,
    )
    def post(self, request):
        return super().post(request)


class ProSeatPurchaseView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["pro"], request=s.SeatPurchaseRequestSerializer,
        responses={201: s.SeatPurchaseResponseSerializer, **ex.SEAT_PURCHASE_RESPONSES}, examples=ex.SEAT_PURCHASE,
        summary="Buy seat licenses for the caller's pro account.",
        description=(
            "Lifetime seats are paid at once (Checkout). The first monthly seats open the grouped "
            "subscription (Checkout, full price, sets the grouped billing day). Later monthly "
            "seats are added to that subscription at once, prorated until the grouped date and "
            "billed then."
        ),
    )
    @idempotent
    def post(self, request):
        data = s.SeatPurchaseRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = pro_seat_billing.pro_seats_purchase(
            owner=request.user, kind=data.validated_data["kind"], quantity=data.validated_data["quantity"],
            request_key=stripe_request_key(request),
        )
        if result.outcome == "checkout":
            snapshot = result.payment.metadata.get("product") or {}
            body = {
                "outcome": result.outcome, "payment_id": result.payment.public_id,
                "checkout_url": result.checkout_url, "license_ids": [],
                "amount_cents": int(snapshot.get("amount_cents") or result.payment.amount_cents),
                "prorated_unit_cents": None, "billed": "now", "next_billing_at": None,
            }
        else:
            body = {
                "outcome": result.outcome, "payment_id": None, "checkout_url": "",
                "license_ids": [lic.public_id for lic in result.licenses],
                "amount_cents": result.quote.amount_cents, "prorated_unit_cents": result.quote.prorated_unit_cents,
                "billed": result.quote.billed, "next_billing_at": result.quote.next_billing_at,
            }
        return Response(s.SeatPurchaseResponseSerializer(body).data, status=status.HTTP_201_CREATED)


class ProAccountRegularizeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["pro"], request=None,
        responses={200: s.RegularizeResponseSerializer, **ex.REGULARIZE_RESPONSES}, examples=ex.REGULARIZE,
        summary="Regularize a suspended pro account: the open invoice to pay on Stripe's hosted page.",
        description=(
            "After a failed grouped renewal the account and its monthly seats are suspended. This "
            "returns the grouped subscription's open invoice and its `hosted_invoice_url`; once the "
            "pro pays it, Stripe's `invoice.paid` reactivates the account and its monthly seats."
        ),
    )
    @idempotent
    def post(self, request):
        invoice = pro_seat_billing.pro_account_regularize(owner=request.user)
        return Response(s.RegularizeResponseSerializer(invoice).data)


class PortalView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        parameters=[IDEMPOTENCY_HEADER], tags=["billing"], request=s.SubjectRequestSerializer,
        responses={201: s.PortalResponseSerializer, **ex.PORTAL_RESPONSES}, examples=ex.PORTAL,
        summary="A Stripe customer portal session (cards, invoices, cancel) to redirect the user to.",
        description="For a user with a Stripe customer (made by their first purchase); without one, 409 "
        "`stripe_customer_missing`. The portal returns to `BILLING_PORTAL_RETURN_URL`.\n\n" + USER_ID_RULE,
    )
    @idempotent
    def post(self, request):
        data = s.SubjectRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        session = customer_billing.stripe_customer_portal_open(user=user, request_key=stripe_request_key(request))
        return Response({"url": session["url"], "customer_id": session["customer"]},
                        status=status.HTTP_201_CREATED)
