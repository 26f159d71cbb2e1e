from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.core.selectors import health_report


class HealthView(APIView):
    """Liveness and dependencies: 200 when database, cache and broker answer, else 503."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["ops"],
        auth=[],
        responses={
            (200, "application/json"): inline_serializer(
                "HealthReport",
                {
                    "status": serializers.ChoiceField(choices=["ok", "degraded"]),
                    "checks": serializers.DictField(child=serializers.DictField()),
                    "worker": serializers.DictField(),
                },
            ),
            (503, "application/json"): inline_serializer(
                "HealthReportDegraded", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
        },
    )
    def get(self, request):
        report = health_report()
        return Response(report, status=200 if report["status"] == "ok" else 503)
