"""The /luna API (DESIGN.md §3, §7): thin views over wallet.services.energy and selectors.

Auth: end users (Token) for themselves, satellites (Api-Key) for any user_id; another
user's id answers 404. Mutating endpoints are idempotent (phoenix.core.idempotency).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.core.api import ErrorSerializer, IsUserOrSatellite, is_satellite, resolve_subject_user
from phoenix.core.idempotency import HEADER, idempotent
from wallet import selectors
from wallet.api import serializers as s
from wallet.api.throttles import LunaSatelliteThrottle, LunaUserThrottle
from wallet.services import DEFAULT_HOLD_TTL_SECONDS
from wallet.services import energy as energy_services

TAG = "luna"


def _err(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


AUTH_ERRORS = {
    401: _err("not_authenticated / authentication_failed"),
    429: _err("throttled (per user and per API key; retry_after)"),
}
USER_ERRORS = {
    **AUTH_ERRORS,
    404: _err("user_not_found (also another user's id for an end user)"),
}
MUTATION_ERRORS = {
    **USER_ERRORS,
    409: _err("idempotency_conflict: the key was used with another body"),
}
IDEMPOTENCY_HEADER = OpenApiParameter(HEADER, str, OpenApiParameter.HEADER, required=False,
                                      description="Same as the body's idempotency_key.")
VALIDATION = "validation_error (with fields) / invalid_idempotency_key / user_id_required"


class LunaView(APIView):
    permission_classes = [IsUserOrSatellite]
    throttle_classes = [LunaUserThrottle, LunaSatelliteThrottle]

    def hold_scope(self, request):
        """Holds and transactions carry no user_id: an end user may only touch their own."""
        return None if is_satellite(request) else request.user

    @staticmethod
    def valid(serializer_class, request):
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class CheckView(LunaView):
    @extend_schema(tags=[TAG], request=s.UserRequestSerializer,
                   responses={200: s.CheckSerializer, 400: _err(VALIDATION), **USER_ERRORS})
    def post(self, request):
        data = self.valid(s.UserRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        return Response(s.CheckSerializer(selectors.energy_check(user=user)).data)


class CanPerformView(LunaView):
    @extend_schema(tags=[TAG], request=s.ActionRequestSerializer,
                   responses={200: s.CanPerformSerializer, 400: _err("unknown_action / " + VALIDATION),
                              **USER_ERRORS})
    def post(self, request):
        data = self.valid(s.ActionRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        answer = selectors.energy_can_perform(user=user, action_code=data["action"])
        return Response(s.CanPerformSerializer(answer).data)


class ConsumeView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.ConsumeRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        description="Perform an action: debit its cost and record the usage event. Unlimited users and free "
                    "actions: nothing deducted (transaction_id null), the event is still recorded.",
        responses={200: s.ConsumeSerializer, 400: _err("unknown_action / " + VALIDATION),
                   402: _err("insufficient_energy", s.InsufficientEnergySerializer), **MUTATION_ERRORS},
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.ConsumeRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        result = energy_services.energy_consume(user=user, action_code=data["action"], metadata=data["metadata"],
                                                source_app=data.get("source_app"))
        return Response(s.ConsumeSerializer({
            "transaction_id": result.operation.pk if result.operation else None, "event_id": result.event.pk,
            "energy_consumed": result.energy_consumed, "available": result.available, "unlimited": result.unlimited,
        }).data)


class FreezeView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.FreezeRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        description="Reserve an action's cost while it runs; then commit (records the event) or refund "
                    "(releases). Unlimited users and free actions: no hold (hold_id null), the event is "
                    "recorded at once.",
        responses={201: s.FreezeSerializer, 400: _err("unknown_action / " + VALIDATION),
                   402: _err("insufficient_energy", s.InsufficientEnergySerializer), **MUTATION_ERRORS},
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.FreezeRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        result = energy_services.energy_freeze(
            user=user, action_code=data["action"], ttl_seconds=data.get("ttl_seconds", DEFAULT_HOLD_TTL_SECONDS),
            metadata=data["metadata"], source_app=data.get("source_app"),
        )
        return Response(s.FreezeSerializer({
            "hold_id": result.hold.pk if result.hold else None, "amount": result.amount,
            "expires_at": result.hold.expires_at if result.hold else None, "available": result.available,
            "unlimited": result.unlimited, "event_id": result.event.pk if result.event else None,
        }).data, status=status.HTTP_201_CREATED)


class CommitView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.CommitRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.CommitSerializer, 400: _err("invalid_amount (more than held) / " + VALIDATION),
                   **AUTH_ERRORS,
                   404: _err("hold_not_found (also another user's hold for an end user)"),
                   409: _err("hold_not_pending / hold_expired / idempotency_conflict")},
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.CommitRequestSerializer, request)
        result = energy_services.energy_commit(hold_id=data["hold_id"], amount=data.get("amount"),
                                               user=self.hold_scope(request), metadata=data["metadata"],
                                               source_app=data.get("source_app"))
        return Response(s.CommitSerializer({
            "transaction_id": result.operation.pk, "event_id": result.event.pk,
            "energy_consumed": result.energy_consumed, "available": result.available,
        }).data)


class RefundView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.RefundRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        description="transaction_id: credit a consume/commit back (once); hold_id: release a pending hold.",
        responses={200: s.RefundSerializer, 400: _err(VALIDATION), **AUTH_ERRORS,
                   404: _err("operation_not_found / hold_not_found (also another user's, for an end user)"),
                   409: _err("already_refunded / operation_not_refundable / hold_not_pending "
                             "(a captured hold: refund its transaction_id) / idempotency_conflict")},
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.RefundRequestSerializer, request)
        result = energy_services.energy_refund(
            transaction_id=data.get("transaction_id"), hold_id=data.get("hold_id"),
            user=self.hold_scope(request), reason=data["reason"],
        )
        return Response(s.RefundSerializer({"refunded": result.refunded, "available": result.available}).data)


class NewestFirst(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TransactionPagination(NewestFirst):
    ordering = "-seq"


class EventPagination(NewestFirst):
    ordering = "-id"


class TransactionsView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.TransactionSerializer(many=True), **USER_ERRORS})
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        paginator = TransactionPagination()
        page = paginator.paginate_queryset(selectors.wallet_operations_for_user(user), request, view=self)
        return paginator.get_paginated_response(s.TransactionSerializer(page, many=True).data)


class AnalyticsView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.AnalyticsSerializer, **USER_ERRORS},
                   description="Rolling 30 days; cached 15 min, dropped when the user's ledger or events change.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(s.AnalyticsSerializer(selectors.energy_analytics(user=user)).data)


class ActionsView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.EnergyActionSerializer(many=True), **AUTH_ERRORS})
    def get(self, request):
        return Response(s.EnergyActionSerializer(selectors.energy_actions_active(), many=True).data)


class PacksView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.EnergyPackSerializer(many=True), **AUTH_ERRORS})
    def get(self, request):
        return Response(s.EnergyPackSerializer(selectors.energy_packs_active(), many=True).data)


class LeaderboardView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.LeaderboardSerializer, **AUTH_ERRORS},
                   description="Most active users over 30 days, pseudonymous; cached 30 min.")
    def get(self, request):
        return Response(s.LeaderboardSerializer(selectors.energy_leaderboard()).data)


class EventsView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.EventRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        description="Record an action performed without energy moving (energy_consumed 0).",
        responses={201: s.UsageEventSerializer, 400: _err("unknown_action / " + VALIDATION), **MUTATION_ERRORS},
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.EventRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        event = energy_services.usage_event_record(user=user, action_code=data["action"],
                                                   metadata=data["metadata"], source_app=data.get("source_app"))
        return Response(s.UsageEventSerializer(event).data, status=status.HTTP_201_CREATED)


class UserEventsView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.UsageEventSerializer(many=True), **USER_ERRORS})
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        paginator = EventPagination()
        page = paginator.paginate_queryset(selectors.usage_events_for_user(user), request, view=self)
        return paginator.get_paginated_response(s.UsageEventSerializer(page, many=True).data)


class NarrativeView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.NarrativeSerializer, **USER_ERRORS},
                   description="Rebuilt from the user's events at every call.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(s.NarrativeSerializer(selectors.usage_narrative(user=user)).data)
