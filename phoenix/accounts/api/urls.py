from django.urls import path

from phoenix.accounts.api import views

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="auth-register"),
    path("login", views.LoginView.as_view(), name="auth-login"),
    path("logout", views.LogoutView.as_view(), name="auth-logout"),
    path("profile", views.ProfileView.as_view(), name="auth-profile"),
    path("users/<str:user_id>", views.UserProfileView.as_view(), name="auth-user-profile"),
]
