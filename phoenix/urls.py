from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from phoenix.core.views import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("phoenix.accounts.api.urls")),
    path("luna/", include("wallet.api.urls")),
    path("subscriptions/", include("subscriptions.api.urls")),
    path("pro/", include("licenses.api.urls")),
    path("", include("billing.api.urls")),  # /billing/... and /stripe/webhook/
    path("health/", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "phoenix.core.errors.json_bad_request"
handler403 = "phoenix.core.errors.json_permission_denied"
handler404 = "phoenix.core.errors.json_not_found"
handler500 = "phoenix.core.errors.json_server_error"
