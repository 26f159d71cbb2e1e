"""The composition root: every app's URLconf, and every path that goes through Stripe.

Paths under another app's prefix whose work is a Stripe call (a Checkout Session, a
subscription change, an invoice) are served by billing, which sits above those apps
(DESIGN.md §1); they are listed here, by name, rather than left to fall through a
catch-all include.
"""

from django.contrib import admin
from django.urls import include, path
from django.utils.module_loading import import_string
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from phoenix.core.views import HealthView


def billing_view(name: str):
    """A view of ``billing.api.views`` by dotted path, as ``include()`` names URLconfs:
    ``phoenix`` is the bottom layer of the import contract, so it never imports an app."""
    return import_string(f"billing.api.views.{name}").as_view()


# Through Stripe: served by billing under the prefixes of wallet, subscriptions and licenses.
stripe_paths = [
    path("luna/energy/purchase", billing_view("EnergyPurchaseView"), name="luna-energy-purchase"),
    path("subscriptions/cancel", billing_view("SubscriptionCancelView"), name="subscriptions-cancel"),
    path("subscriptions/resume", billing_view("SubscriptionResumeView"), name="subscriptions-resume"),
    path("pro/licenses/purchase", billing_view("ProSeatPurchaseView"), name="pro-licenses-purchase"),
    path("pro/account/regularize", billing_view("ProAccountRegularizeView"),
         name="pro-account-regularize"),
    path("stripe/webhook/", billing_view("StripeWebhookView"), name="stripe-webhook"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("phoenix.accounts.api.urls")),
    *stripe_paths,
    path("luna/", include("wallet.api.urls")),
    path("subscriptions/", include("subscriptions.api.urls")),
    path("pro/", include("licenses.api.urls")),
    path("billing/", include("billing.api.urls")),  # checkout, create-intent, confirm-payment, history
    path("health/", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "phoenix.core.errors.json_bad_request"
handler403 = "phoenix.core.errors.json_permission_denied"
handler404 = "phoenix.core.errors.json_not_found"
handler500 = "phoenix.core.errors.json_server_error"
