"""The /luna API: thin views over wallet.services.energy and selectors.

Auth: end users (Token) for themselves, satellites (Api-Key) for any user_id; another
user's id answers 404. Mutating endpoints are idempotent (phoenix.core.idempotency).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import KeyParser

from phoenix.core.api import IsUserOrSatellite, is_satellite, resolve_subject_user
from phoenix.core.idempotency import idempotent, idempotent_database_only
from phoenix.core.input_policy import StrictPaging
from phoenix.core.metrics import count_energy_operation
from phoenix.core.openapi import (
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_USER_ID,
    IDEMPOTENCY_HEADER,
    USER_ID_PATH,
    USER_ID_RULE,
)
from wallet import selectors
from wallet.api import examples as ex
from wallet.api import serializers as s
from wallet.api.throttles import LunaSatelliteThrottle, LunaUserThrottle
from wallet.errors import SpendVelocityExceeded
from wallet.services import DEFAULT_HOLD_TTL_SECONDS
from wallet.services import energy as energy_services
from wallet.services.velocity import velocity_guarded

TAG = "luna"


class LunaView(APIView):
    permission_classes = [IsUserOrSatellite]
    throttle_classes = [LunaUserThrottle, LunaSatelliteThrottle]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, SpendVelocityExceeded):  # the breaker's 429 says when, like the throttle's
            response["Retry-After"] = str(exc.retry_after)
        return response

    @staticmethod
    def api_key_prefix(request) -> str | None:
        """The calling satellite's key (its public prefix) for the per-key breaker; None for end users."""
        if not is_satellite(request):
            return None
        return (KeyParser().get(request) or "").partition(".")[0] or None

    def hold_scope(self, request):
        """Holds and transactions carry no user_id: an end user may only touch their own."""
        return None if is_satellite(request) else request.user

    @staticmethod
    def valid(serializer_class, request):
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _lots_of(operation) -> list:
    if operation is None:
        return []
    # A fresh debit or freeze knows the lots it moved (from its own statement); a replay reads them.
    moves = getattr(operation, "lot_moves", None)
    return moves if moves is not None else selectors.lots_of_operations([operation.pk])[operation.pk]


class CheckView(LunaView):
    @extend_schema(tags=[TAG], request=s.UserRequestSerializer, responses=ex.CHECK_RESPONSES, examples=ex.CHECK,
                   summary="A user's energy: balance, held, available.", description=USER_ID_RULE)
    def post(self, request):
        data = self.valid(s.UserRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        return Response(s.CheckSerializer(selectors.energy_check(user=user)).data)


class CanPerformView(LunaView):
    @extend_schema(tags=[TAG], request=s.ActionRequestSerializer, responses=ex.CAN_PERFORM_RESPONSES,
                   examples=ex.CAN_PERFORM, summary="Whether a user can afford an action (nothing is debited).",
                   description="When not, `required_pack` names the cheapest pack covering the shortfall.\n\n"
                               + USER_ID_RULE)
    def post(self, request):
        data = self.valid(s.ActionRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        answer = selectors.energy_can_perform(user=user, action_code=data["action"])
        return Response(s.CanPerformSerializer(answer).data)


class ConsumeView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.ConsumeRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Perform an action: debit its cost and record the usage event.",
        description="Unlimited users and free actions: nothing deducted (`transaction_id` null), the event is "
                    "still recorded. Not enough energy: 402 `insufficient_energy`, nothing recorded.\n\n"
                    + USER_ID_RULE,
        responses={200: s.ConsumeSerializer, **ex.ACTION_MUTATION_RESPONSES}, examples=ex.CONSUME,
    )
    @count_energy_operation("consume", action_field="action")
    @velocity_guarded  # outside the idempotent transaction: the breaker's incident survives the refusal's rollback
    @idempotent_database_only  # the hot path: every effect is in the transaction (the key claimed with the answer)
    def post(self, request):
        data = self.valid(s.ConsumeRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        result = energy_services.energy_consume(user=user, action_code=data["action"], metadata=data["metadata"],
                                                source_app=data.get("source_app"),
                                                api_key_prefix=self.api_key_prefix(request))
        # The hot path answers the dict itself: every value is already ConsumeSerializer's
        # representation (ints, a bool, the lots' dicts), and building the serializer (a deep
        # copy of its fields, nested) cost more than the answer (test_api: the same keys).
        return Response({
            "transaction_id": result.operation.pk if result.operation else None, "event_id": result.event.pk,
            "energy_consumed": result.energy_consumed, "available": result.available, "unlimited": result.unlimited,
            "lots": _lots_of(result.operation),
        })


class FreezeView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.FreezeRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Reserve an action's cost while it runs (a hold).",
        description="Then commit the hold (debits and records the event) or refund it (releases). A hold not "
                    "committed within `ttl_seconds` expires and is released; `extend` renews it, up to "
                    "`max_lifetime_seconds` in all. Unlimited users and free actions: no hold (`hold_id` null), "
                    "the event is recorded at once. Over the spend-velocity limit: 429 "
                    "`spend_velocity_exceeded` with `retry_after`.\n\n" + USER_ID_RULE,
        responses={201: s.FreezeSerializer, **ex.ACTION_MUTATION_RESPONSES}, examples=ex.FREEZE,
    )
    @count_energy_operation("freeze", action_field="action")
    @velocity_guarded
    @idempotent
    def post(self, request):
        data = self.valid(s.FreezeRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        result = energy_services.energy_freeze(
            user=user, action_code=data["action"], ttl_seconds=data.get("ttl_seconds", DEFAULT_HOLD_TTL_SECONDS),
            max_lifetime_seconds=data.get("max_lifetime_seconds"), metadata=data["metadata"],
            source_app=data.get("source_app"), api_key_prefix=self.api_key_prefix(request),
        )
        return Response(s.FreezeSerializer({
            "hold_id": result.hold.pk if result.hold else None, "amount": result.amount,
            "expires_at": result.hold.expires_at if result.hold else None, "available": result.available,
            "unlimited": result.unlimited, "event_id": result.event.pk if result.event else None,
        }).data, status=status.HTTP_201_CREATED)


class CommitView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.CommitRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Capture a hold: debit it (or less) and record the usage event.",
        description="The hold names its user: no `user_id`. An end user may only commit their own holds "
                    "(another's: 404 `hold_not_found`); a satellite any hold.",
        responses=ex.COMMIT_RESPONSES, examples=ex.COMMIT,
    )
    @count_energy_operation("commit")
    @idempotent
    def post(self, request):
        data = self.valid(s.CommitRequestSerializer, request)
        result = energy_services.energy_commit(hold_id=data["hold_id"], amount=data.get("amount"),
                                               user=self.hold_scope(request), metadata=data["metadata"],
                                               source_app=data.get("source_app"))
        hold = result.operation.hold
        overrun_operation = selectors.hold_overrun_operation(hold)
        lots = selectors.lots_of_operations([o.pk for o in (result.operation, overrun_operation) if o])
        return Response(s.CommitSerializer({
            "transaction_id": result.operation.pk, "event_id": result.event.pk,
            "energy_consumed": result.energy_consumed, "available": result.available,
            "lots": [move for moves in lots.values() for move in moves],
            "overrun": hold.overrun_amount or 0,
            "overrun_transaction_id": overrun_operation.pk if overrun_operation else None,
        }).data)


class ExtendView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.ExtendRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Renew a pending hold's lease (a heartbeat while a long action runs).",
        description="The expiry becomes now + `ttl_seconds` (default: the hold's own), never past its "
                    "`max_expires_at` (created_at + max_lifetime_seconds). Each extend is recorded in the "
                    "hold's history. A worker that stops extending lets the hold expire as usual. An end user "
                    "may only extend their own holds.",
        responses=ex.EXTEND_RESPONSES, examples=ex.EXTEND,
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.ExtendRequestSerializer, request)
        hold = energy_services.energy_extend(hold_id=data["hold_id"], ttl_seconds=data.get("ttl_seconds"),
                                             user=self.hold_scope(request))
        return Response(s.ExtendSerializer({
            "hold_id": hold.pk, "expires_at": hold.expires_at, "max_expires_at": hold.max_expires_at,
            "at_max_lifetime": hold.expires_at == (hold.max_expires_at or hold.expires_at),
        }).data)


class StatementView(LunaView):
    query_parameters = ("from", "to")  # the input policy refuses any other

    @extend_schema(
        tags=[TAG], parameters=[USER_ID_PATH, *ex.STATEMENT_PARAMETERS],
        responses={200: s.StatementSerializer, 400: ex.STATEMENT_BAD_REQUEST, **ex.USER_ERRORS},
        examples=ex.STATEMENT, summary="A verifiable statement: operations with seq and chain hashes, and the head.",
        description="Operations created in [from, to) (ISO 8601; open ends: all), oldest first, with every "
                    "hashed field. Verify it with the README's procedure (`wallet/statement.py`, standard "
                    "library only, or `manage.py wallet_statement_verify`).",
    )
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        query = s.StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        statement = selectors.wallet_statement(user=user, date_from=query.validated_data.get("from"),
                                               date_to=query.validated_data.get("to"))
        return Response(s.StatementSerializer(statement).data)


class RefundView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.RefundRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Give energy back: refund a transaction or release a hold.",
        description="Send exactly one of `transaction_id` (credit a consume's or commit's debit back, once) and "
                    "`hold_id` (release a pending hold; a captured hold is refunded by its `transaction_id`); "
                    "neither or both is 400 `validation_error`. An end user may only refund their own.\n\n"
                    "Refunding a consume or commit appends a compensating usage event (`refund_of` = the "
                    "original's `event_id`, `energy_consumed` negative): the narrative, analytics and leaderboard "
                    "then count neither.",
        responses=ex.REFUND_RESPONSES, examples=ex.REFUND,
    )
    @count_energy_operation("refund")
    @idempotent
    def post(self, request):
        data = self.valid(s.RefundRequestSerializer, request)
        result = energy_services.energy_refund(
            transaction_id=data.get("transaction_id"), hold_id=data.get("hold_id"),
            user=self.hold_scope(request), reason=data["reason"],
        )
        return Response(s.RefundSerializer({"refunded": result.refunded, "available": result.available}).data)


class NewestFirst(StrictPaging, CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    example_path = ""  # the schema's example links (DRF's own name another API)

    def get_paginated_response_schema(self, schema):
        body = super().get_paginated_response_schema(schema)
        body["properties"]["next"]["example"] = f"https://phoenix.example.com{self.example_path}?cursor=cD04"
        body["properties"]["previous"]["example"] = None
        return body


class TransactionPagination(NewestFirst):
    ordering = "-seq"
    example_path = f"/luna/energy/transactions/{EXAMPLE_USER_ID}"


class EventPagination(NewestFirst):
    ordering = "-id"
    example_path = f"/luna/events/{EXAMPLE_USER_ID}"


class TransactionsView(LunaView):
    pagination_class = TransactionPagination

    @extend_schema(tags=[TAG], parameters=[USER_ID_PATH],
                   responses={200: s.TransactionSerializer(many=True), **ex.USER_ERRORS}, examples=ex.TRANSACTIONS,
                   summary="A user's ledger, newest first (cursor-paginated).")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.wallet_operations_for_user(user), request, view=self)
        lots = selectors.lots_of_operations([operation.pk for operation in page])
        return paginator.get_paginated_response(s.TransactionSerializer(page, many=True, context={"lots": lots}).data)


class LotsView(LunaView):
    @extend_schema(tags=[TAG], parameters=[USER_ID_PATH],
                   responses={200: s.EnergyLotSerializer(many=True), **ex.USER_ERRORS}, examples=ex.LOTS,
                   summary="A user's energy lots with energy left, in the order they are consumed.",
                   description="Consumption order: soonest expiry first (never-expiring last), then free "
                               "categories before paid, then priority (lower first), then oldest.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(s.EnergyLotSerializer(selectors.energy_lots_for_user(user), many=True).data)


class AnalyticsView(LunaView):
    @extend_schema(tags=[TAG], parameters=[USER_ID_PATH], responses={200: s.AnalyticsSerializer, **ex.USER_ERRORS},
                   examples=ex.ANALYTICS, summary="A user's energy use over the last 30 days.",
                   description="Rolling 30 days; cached 15 min, dropped when the user's ledger or events change. "
                               "Refunded actions are netted out of `actions`, `consumed`, `average_per_action` "
                               "and `top_actions`; `refunded` is the energy credited back by refunds.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(s.AnalyticsSerializer(selectors.energy_analytics(user=user)).data)


class ActionsView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.EnergyActionSerializer(many=True), **ex.AUTH_ERRORS},
                   examples=ex.ACTIONS, summary="The active actions and their energy cost.")
    def get(self, request):
        return Response(s.EnergyActionSerializer(selectors.energy_actions_active(), many=True).data)


class PacksView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.EnergyPackSerializer(many=True), **ex.AUTH_ERRORS},
                   examples=ex.PACKS, summary="The energy packs on sale.")
    def get(self, request):
        return Response(s.EnergyPackSerializer(selectors.energy_packs_active(), many=True).data)


class LeaderboardView(LunaView):
    @extend_schema(tags=[TAG], responses={200: s.LeaderboardSerializer, **ex.AUTH_ERRORS}, examples=ex.LEADERBOARD,
                   summary="The most active users over 30 days.",
                   description="Pseudonymous (a truncated keyed hash of each user's id); cached 30 min. A "
                               "refunded action is not counted.")
    def get(self, request):
        return Response(s.LeaderboardSerializer(selectors.energy_leaderboard()).data)


class EventsView(LunaView):
    @extend_schema(
        tags=[TAG], request=s.EventRequestSerializer, parameters=[IDEMPOTENCY_HEADER],
        summary="Record an action performed without energy moving.",
        description="The event is recorded with `energy_consumed` 0.\n\n" + USER_ID_RULE,
        responses=ex.EVENTS_RESPONSES, examples=ex.EVENTS,
    )
    @idempotent
    def post(self, request):
        data = self.valid(s.EventRequestSerializer, request)
        user = resolve_subject_user(request, data.get("user_id"))
        event = energy_services.usage_event_record(user=user, action_code=data["action"],
                                                   metadata=data["metadata"], source_app=data.get("source_app"))
        return Response(s.UsageEventSerializer(event).data, status=status.HTTP_201_CREATED)


class UserEventsView(LunaView):
    pagination_class = EventPagination

    @extend_schema(tags=[TAG], parameters=[USER_ID_PATH],
                   responses={200: s.UsageEventSerializer(many=True), **ex.USER_ERRORS}, examples=ex.USER_EVENTS,
                   summary="A user's usage events, newest first (cursor-paginated).",
                   description="Compensating events of refunds included: `refund_of` links one to the action it "
                               "cancels, `refunded_by` the action to it.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.usage_events_for_user(user), request, view=self)
        return paginator.get_paginated_response(s.UsageEventSerializer(page, many=True).data)


class NarrativeView(LunaView):
    @extend_schema(tags=[TAG], parameters=[USER_ID_PATH], responses={200: s.NarrativeSerializer, **ex.USER_ERRORS},
                   examples=ex.NARRATIVE, summary="A user's story: totals, weekly timeline, milestones.",
                   description="Rebuilt from the user's events at every call; a refunded action (and its "
                               "compensating event) counts nowhere.")
    def get(self, request, user_id):
        user = resolve_subject_user(request, user_id)
        return Response(s.NarrativeSerializer(selectors.usage_narrative(user=user)).data)


class ActivityPagination(NewestFirst):
    ordering = "-id"
    example_path = f"/pro/collaborators/{EXAMPLE_OTHER_USER_ID}/activity"


class CollaboratorActivityView(APIView):
    """Served under /pro (named in phoenix/urls.py, the composition root): the pro's view of a
    collaborator, but the events are wallet's, and so is the read; the rule is licenses',
    asked through phoenix.core.visibility."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [LunaUserThrottle]
    pagination_class = ActivityPagination
    query_parameters = ("since", "until", "app")  # plus the paginator's; the input policy refuses any other

    @extend_schema(
        tags=["pro"],
        parameters=[
            OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                             description="The collaborator's public id.",
                             examples=[OpenApiExample("collaborator", value=EXAMPLE_OTHER_USER_ID)]),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Events at or after this time."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Events before this time."),
            OpenApiParameter("app", OpenApiTypes.STR, description="Only events of this source app."),
        ],
        responses={200: s.ActivityEventSerializer(many=True), **ex.ACTIVITY_RESPONSES}, examples=ex.ACTIVITY,
        summary="A linked collaborator's activity (their actions), newest first (cursor-paginated).",
        description="Visible to the pro owner exactly while the collaborator is a linked member of the pro "
                    "account AND has premium access (TRIAL running, PREMIUM, LIFETIME, active LICENSED seat). "
                    "Otherwise 404 `activity_not_found`, the same answer as for a stranger or an unknown id. "
                    "Refunded actions are netted out (neither they nor their compensating events are listed).",
    )
    def get(self, request, user_id):
        query = s.ActivityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = selectors.collaborator_activity(
            viewer=request.user, subject_id=user_id, since=query.validated_data.get("since"),
            until=query.validated_data.get("until"), source_app=query.validated_data.get("app"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(s.ActivityEventSerializer(page, many=True).data)
