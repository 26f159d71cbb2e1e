"""Billing endpoints (DESIGN.md §7): thin, each calls one service or selector."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.api import serializers as s
from billing.services import payments as payment_services
from billing.services.webhooks import webhook_receive
from billing.webhooks.energy_packs import ENERGY_PACK
from phoenix.core.api import ErrorSerializer, IsUserOrSatellite, resolve_subject_user


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


_AUTH_ERRORS = {
    401: _error("not_authenticated / authentication_failed"),
    404: _error("user_not_found (an end user naming someone else), unknown_product"),
}
_PAY_ERRORS = {
    **_AUTH_ERRORS,
    400: _error("validation_error, user_id_required (satellite)"),
    409: _error("unlimited_cannot_buy_packs"),
    503: _error("stripe_not_configured, stripe_unavailable, stripe_request_refused"),
}


def _checkout(request, *, user_id, kind: str, code: str) -> Response:
    user = resolve_subject_user(request, user_id)
    payment, url = payment_services.payment_checkout_start(
        user=user, product_kind=kind, product_code=code
    )
    return Response({"payment_id": payment.public_id, "checkout_url": url}, status=status.HTTP_201_CREATED)


class EnergyPurchaseView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["luna"], request=s.PurchaseRequestSerializer,
        responses={201: s.CheckoutResponseSerializer, **_PAY_ERRORS},
        summary="Buy an energy pack: a Stripe Checkout Session to redirect the user to.",
    )
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
        tags=["billing"], request=s.ProductRequestSerializer,
        responses={201: s.CheckoutResponseSerializer, **_PAY_ERRORS},
        summary="A Stripe Checkout Session for a product (metadata names user and product).",
    )
    def post(self, request):
        data = s.ProductRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind, code = s.split_product(data.validated_data["product"])
        return _checkout(request, user_id=data.validated_data.get("user_id"), kind=kind, code=code)


class CreateIntentView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["billing"], request=s.ProductRequestSerializer,
        responses={201: s.CreateIntentResponseSerializer, **_PAY_ERRORS},
        summary="A PaymentIntent for a product, to confirm client-side with Stripe.js.",
    )
    def post(self, request):
        data = s.ProductRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        kind, code = s.split_product(data.validated_data["product"])
        payment, intent = payment_services.payment_intent_start(
            user=user, product_kind=kind, product_code=code
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
        tags=["billing"], request=s.ConfirmPaymentRequestSerializer,
        responses={
            200: s.PaymentSerializer,
            **_AUTH_ERRORS,
            400: _error("validation_error, user_id_required"),
            404: _error("user_not_found, payment_not_found"),
            503: _error("stripe_not_configured, stripe_unavailable"),
        },
        summary="After client-side confirmation: apply the PaymentIntent's state (credits once).",
    )
    def post(self, request):
        data = s.ConfirmPaymentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = resolve_subject_user(request, data.validated_data.get("user_id"))
        payment = payment_services.payment_confirm(
            user=user, payment_intent_id=data.validated_data["payment_intent_id"]
        )
        return Response(s.PaymentSerializer(payment).data)


class HistoryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class PaymentHistoryView(APIView):
    permission_classes = [IsUserOrSatellite]

    @extend_schema(
        tags=["billing"],
        parameters=[
            OpenApiParameter("page", int, description="Page number (from 1)."),
            OpenApiParameter("page_size", int, description="Up to 100; default 20."),
        ],
        responses={200: s.PaymentSerializer(many=True), **_AUTH_ERRORS},
        summary="The user's payments, newest first (paginated).",
    )
    def get(self, request, user_id: str):
        user = resolve_subject_user(request, user_id)
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(selectors.payment_history(user=user), request, view=self)
        return paginator.get_paginated_response(s.PaymentSerializer(page, many=True).data)


class StripeWebhookView(APIView):
    """Stripe calls this; authenticity is the signature, not a session or token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        tags=["stripe"], request=None, auth=[],
        responses={
            200: s.WebhookAckSerializer,
            400: _error("missing_signature, invalid_signature (bad or older than 300 s), "
                        "malformed_payload"),
            500: _error("webhook_processing_failed: stored, rolled back, Stripe retries"),
            503: _error("stripe_not_configured (no STRIPE_WEBHOOK_SECRET)"),
        },
        summary="Stripe events, verified with the Stripe-Signature header.",
    )
    def post(self, request):
        # The raw body: the signature covers the exact bytes Stripe sent.
        record = webhook_receive(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature")
        )
        return Response({"received": True, "status": record.status})
