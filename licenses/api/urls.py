from django.urls import path

from licenses.api import views

urlpatterns = [
    path("account", views.ProAccountView.as_view(), name="pro-account"),
    path("collaborators", views.CollaboratorListView.as_view(), name="pro-collaborators"),
    path("collaborators/<str:user_id>", views.CollaboratorDetailView.as_view(), name="pro-collaborator"),
    path("licenses", views.LicensePoolView.as_view(), name="pro-licenses"),
    path("licenses/<str:license_id>/assign", views.LicenseAssignView.as_view(), name="pro-license-assign"),
    path("licenses/<str:license_id>/cancel", views.LicenseCancelView.as_view(), name="pro-license-cancel"),
    path("licenses/<str:license_id>/unlink", views.LicenseUnlinkView.as_view(), name="pro-license-unlink"),
    path("memberships", views.MembershipListView.as_view(), name="pro-memberships"),
    path("accounts/<str:pro_account_id>/leave", views.LeaveView.as_view(), name="pro-leave"),
]
