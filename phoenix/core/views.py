from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from phoenix.core.metrics import metrics_exposition, metrics_request_allowed
from phoenix.core.openapi import success_example
from phoenix.core.selectors import health_report

_UP = {"database": {"status": "up", "latency_ms": 0.4}, "cache": {"status": "up", "latency_ms": 1.6}}
HEALTH_EXAMPLES = [
    success_example("ok", {"status": "ok", "checks": {**_UP, "broker": {"status": "up", "latency_ms": 2.3}},
                           "worker": {"status": "up", "last_heartbeat": "2026-12-01T22:15:40+00:00",
                                      "age_seconds": 21.3}}),
    success_example("degraded", {"status": "degraded", "checks": {
        **_UP, "broker": {"status": "down",
                          "error": "OperationalError: Error 111 connecting to 127.0.0.1:6379. Connection refused."},
    }, "worker": {"status": "unknown", "last_heartbeat": None}}, status=503, summary="A dependency is down"),
]


class HealthView(APIView):
    """Liveness and dependencies: 200 when database, cache and broker answer, else 503."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["ops"],
        auth=[],
        examples=HEALTH_EXAMPLES,
        summary="Liveness and dependencies.",
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
                "HealthReportDegraded",
                {"status": serializers.CharField(), "checks": serializers.DictField(),
                 "worker": serializers.DictField()},
            ),
        },
    )
    def get(self, request):
        report = health_report()
        return Response(report, status=200 if report["status"] == "ok" else 503)


@require_GET
def metrics_view(request):
    """Prometheus scrape: every process's metrics (multiprocess mode) and the scrape-time
    gauges. Refused (403 ``metrics_forbidden``) unless ``metrics_request_allowed``."""
    if not metrics_request_allowed(request):
        return JsonResponse({"error": "metrics_forbidden",
                             "detail": "Send the METRICS_TOKEN as a bearer token."}, status=403)
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
