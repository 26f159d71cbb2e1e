"""The minimal view bench_luna measures the consume endpoint against: the same token
authentication and the same `wallet_debit`, nothing else (no throttle, no idempotency store,
no usage event, no breaker, no metrics). Served only by bench.wsgi (bench_luna's gunicorn),
never by phoenix.urls."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.accounts.authentication import TokenAuthentication
from wallet.services import wallet_debit

MINIMAL_DEBIT = 5  # the cost of `conseil_rapide`, the action bench_luna's consume performs


class MinimalDebitView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    def post(self, request):
        operation = wallet_debit(user=request.user, amount=MINIMAL_DEBIT, source="api", reason="bench minimal view",
                                 reference="conseil_rapide")
        return Response({"transaction_id": operation.pk, "available": operation.available_after})
