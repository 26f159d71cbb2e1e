"""The composition root: every app's URLconf, and every path that goes through Stripe.

Paths under another app's prefix whose work is a Stripe call (a Checkout Session, a
subscription change, an invoice) are served by billing, which sits above those apps
; they are listed here, by name, rather than left to fall through a
catch-all include.
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# The one module of `phoenix` that imports apps: the composition root (`ignore_imports`
# entries of the layers contract in pyproject.toml say so).
from billing.api import views as billing_views
from phoenix.core.views import HealthView, metrics_view
from wallet.api import views as wallet_views

# Through Stripe: served by billing under the prefixes of wallet, subscriptions and licenses.
stripe_paths = [
    path("luna/energy/purchase", billing_views.EnergyPurchaseView.as_view(), name="luna-energy-purchase"),
    path("subscriptions/cancel", billing_views.SubscriptionCancelView.as_view(), name="subscriptions-cancel"),
    path("subscriptions/resume", billing_views.SubscriptionResumeView.as_view(), name="subscriptions-resume"),
    path("pro/licenses/purchase", billing_views.ProSeatPurchaseView.as_view(), name="pro-licenses-purchase"),
    path("pro/account/regularize", billing_views.ProAccountRegularizeView.as_view(),
         name="pro-account-regularize"),
    path("stripe/webhook/", billing_views.StripeWebhookView.as_view(), name="stripe-webhook"),
]

# Under /pro but wallet's: a collaborator's activity (their usage events); licenses' rule decides who
# sees it, through phoenix.core.visibility.
pro_wallet_paths = [
    path("pro/collaborators/<str:user_id>/activity", wallet_views.CollaboratorActivityView.as_view(),
         name="pro-collaborator-activity"),
]

# /luna first: its spends are the hot path, and Django tries the patterns in order (a request
# to /luna/energy/purchase, billing's, falls through luna's, which have no such path).
urlpatterns = [
    path("luna/", include("wallet.api.urls")),
    path("admin/", admin.site.urls),
    path("auth/", include("phoenix.accounts.api.urls")),
    *stripe_paths,
    *pro_wallet_paths,
    path("subscriptions/", include("subscriptions.api.urls")),
    path("pro/", include("licenses.api.urls")),
    path("billing/", include("billing.api.urls")),  # checkout, create-intent, confirm-payment, history
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "phoenix.core.errors.json_bad_request"
handler403 = "phoenix.core.admin_site.admin_permission_denied"  # admin chrome under /admin/, else JSON
handler404 = "phoenix.core.admin_site.admin_not_found"  # admin chrome under /admin/, else JSON
handler500 = "phoenix.core.errors.json_server_error"
