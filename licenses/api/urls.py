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
    path("invitations", views.InvitationListView.as_view(), name="pro-invitations"),
    path("invitations/received", views.ReceivedInvitationListView.as_view(), name="pro-invitations-received"),
    path("invitations/respond", views.InvitationRespondByLinkView.as_view(), name="pro-invitation-respond"),
    path("invitations/<str:invitation_id>/accept", views.InvitationAcceptView.as_view(),
         name="pro-invitation-accept"),
    path("invitations/<str:invitation_id>/decline", views.InvitationDeclineView.as_view(),
         name="pro-invitation-decline"),
    path("invitations/<str:invitation_id>/revoke", views.InvitationRevokeView.as_view(),
         name="pro-invitation-revoke"),
    path("memberships", views.MembershipListView.as_view(), name="pro-memberships"),
    path("accounts/<str:pro_account_id>/leave", views.LeaveView.as_view(), name="pro-leave"),
]
