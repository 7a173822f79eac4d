"""Sign-in protocol routes of accounts (the sign-in and MFA pages are in office/)."""

from django.urls import path

from . import oidc

urlpatterns = [
    # mozilla-django-oidc's own urls module picks its view classes at import time from settings; naming
    # dsign's views here keeps the routes independent of import order.
    path("oidc/authenticate/", oidc.AuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.AuthenticationCallbackView.as_view(), name="oidc_authentication_callback"),
    path("oidc/logout/", oidc.LogoutView.as_view(), name="oidc_logout"),
]
