"""Mounted at "" (phoenix/urls.py): billing declares its own prefixes.

``luna/energy/purchase`` lives here (not in wallet/api/urls.py, mounted at ``luna/``):
the wallet app's patterns are tried first and do not match it, so resolution falls
through to these.
"""

from django.urls import path

from billing.api import views

urlpatterns = [
    path("luna/energy/purchase", views.EnergyPurchaseView.as_view(), name="luna-energy-purchase"),
    path("billing/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path("billing/create-intent", views.CreateIntentView.as_view(), name="billing-create-intent"),
    path("billing/confirm-payment", views.ConfirmPaymentView.as_view(), name="billing-confirm-payment"),
    path("billing/history/<str:user_id>", views.PaymentHistoryView.as_view(), name="billing-history"),
    path("stripe/webhook/", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    # Through Stripe, so billing owns them; subscriptions/ and pro/ (mounted before "")
    # declare no such paths, so resolution falls through to these.
    path("subscriptions/cancel", views.SubscriptionCancelView.as_view(), name="subscriptions-cancel"),
    path("subscriptions/resume", views.SubscriptionResumeView.as_view(), name="subscriptions-resume"),
    path("pro/licenses/purchase", views.ProSeatPurchaseView.as_view(), name="pro-licenses-purchase"),
    path("pro/account/regularize", views.ProAccountRegularizeView.as_view(), name="pro-account-regularize"),
]
