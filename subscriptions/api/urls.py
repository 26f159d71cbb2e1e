from django.urls import path

from subscriptions.api import views

urlpatterns = [
    path("access/<str:user_id>", views.AccessView.as_view(), name="subscriptions-access"),
]
