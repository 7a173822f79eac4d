from django.urls import path

from . import api

urlpatterns = [
    path("me/", api.Me.as_view(), name="api-me"),
    path("me/mfa/devices/", api.MyDevices.as_view(), name="api-me-mfa-devices"),
    path("me/mfa/enrol/", api.MyEnrol.as_view(), name="api-me-mfa-enrol"),
    path("me/mfa/confirm/", api.MyConfirm.as_view(), name="api-me-mfa-confirm"),
    path("me/mfa/challenge/", api.MyChallenge.as_view(), name="api-me-mfa-challenge"),
    path("me/mfa/backup-codes/", api.MyBackupCodes.as_view(), name="api-me-mfa-backup-codes"),
    path("me/mfa/remove/", api.MyRemove.as_view(), name="api-me-mfa-remove"),
    path("auth/session/", api.SessionSignIn.as_view(), name="api-auth-session"),
]
