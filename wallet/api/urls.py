"""Mounted at ``luna/`` (phoenix/urls.py). ``luna/energy/purchase`` is billing's (billing/api/urls.py)."""

from django.urls import path

from wallet.api import views

# The spends first (Django tries the patterns in order): consume is the hot path.
urlpatterns = [
    path("energy/consume", views.ConsumeView.as_view(), name="luna-energy-consume"),
    path("energy/check", views.CheckView.as_view(), name="luna-energy-check"),
    path("energy/can-perform", views.CanPerformView.as_view(), name="luna-energy-can-perform"),
    path("energy/freeze", views.FreezeView.as_view(), name="luna-energy-freeze"),
    path("energy/commit", views.CommitView.as_view(), name="luna-energy-commit"),
    path("energy/refund", views.RefundView.as_view(), name="luna-energy-refund"),
    path("energy/extend", views.ExtendView.as_view(), name="luna-energy-extend"),
    path("energy/statement/<str:user_id>", views.StatementView.as_view(), name="luna-energy-statement"),
    path("energy/lots/<str:user_id>", views.LotsView.as_view(), name="luna-energy-lots"),
    path("energy/transactions/<str:user_id>", views.TransactionsView.as_view(), name="luna-energy-transactions"),
    path("energy/analytics/<str:user_id>", views.AnalyticsView.as_view(), name="luna-energy-analytics"),
    path("energy/actions", views.ActionsView.as_view(), name="luna-energy-actions"),
    path("energy/packs", views.PacksView.as_view(), name="luna-energy-packs"),
    path("energy/leaderboard", views.LeaderboardView.as_view(), name="luna-energy-leaderboard"),
    path("events", views.EventsView.as_view(), name="luna-events"),
    path("events/<str:user_id>", views.UserEventsView.as_view(), name="luna-user-events"),
    path("narrative/<str:user_id>", views.NarrativeView.as_view(), name="luna-narrative"),
]
