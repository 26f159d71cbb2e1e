"""Billing's own endpoints, mounted at ``billing/`` (phoenix/urls.py). The paths of the
other apps' prefixes that go through Stripe (``luna/energy/purchase``, ``subscriptions/
cancel``, ``pro/licenses/purchase``, ...) and the Stripe webhook are named in
phoenix/urls.py, the composition root, and served by ``billing.api.views``."""

from django.urls import path

from billing.api import views

urlpatterns = [
    path("checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path("create-intent", views.CreateIntentView.as_view(), name="billing-create-intent"),
    path("confirm-payment", views.ConfirmPaymentView.as_view(), name="billing-confirm-payment"),
    path("portal", views.PortalView.as_view(), name="billing-portal"),
    path("history/<str:user_id>", views.PaymentHistoryView.as_view(), name="billing-history"),
]
