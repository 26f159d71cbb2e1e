"""Views that raise each kind of error, to check the one error format."""

from django.urls import include, path
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from phoenix.core.errors import ConflictError


class ForbiddenView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise PermissionDenied()


class CrashView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("boom")


class DomainErrorView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise ConflictError("Already done.", code="already_done", hold_id=7)


urlpatterns = [
    path("", include("phoenix.urls")),
    path("test/forbidden", ForbiddenView.as_view()),
    path("test/crash", CrashView.as_view()),
    path("test/domain", DomainErrorView.as_view()),
]
handler404 = "phoenix.core.errors.json_not_found"
handler500 = "phoenix.core.errors.json_server_error"
