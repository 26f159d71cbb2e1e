"""Request-level parts of the input policy (phoenix.core.input_policy): the body size limit
on every path, before anything reads the body, and the query parameters of API views."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from rest_framework.views import APIView

from phoenix.core.input_policy import PayloadTooLarge, UnknownQueryParameter


def _too_large() -> JsonResponse:
    error = PayloadTooLarge(max_bytes=settings.API_MAX_BODY_BYTES)
    return JsonResponse(error.as_dict(), status=error.status_code)


def view_query_parameters(view_class: type[APIView]) -> set[str] | None:
    """The query parameters an API view takes; None: not ours to police (third-party views)."""
    module = view_class.__module__
    if not module.startswith(tuple(settings.API_POLICED_MODULES)):
        return None
    allowed = set(getattr(view_class, "query_parameters", ()))
    paginator = getattr(view_class, "pagination_class", None)
    if paginator is not None:
        for attr in ("page_query_param", "page_size_query_param", "cursor_query_param"):
            name = getattr(paginator, attr, None)
            if name:
                allowed.add(name)
    return allowed


class InputPolicyMiddleware:
    """The body size limit for every path, and the query-parameter rule for API views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            return _too_large()
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is None or not issubclass(view_class, APIView):
            return None
        allowed = view_query_parameters(view_class)
        if allowed is None:
            return None
        unknown = sorted(set(request.GET) - allowed)
        if unknown:
            error = UnknownQueryParameter(parameters=unknown, allowed=sorted(allowed))
            return JsonResponse(error.as_dict(), status=error.status_code)
        return None
