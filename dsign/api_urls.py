"""The v1 REST API: each app contributes its routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("workflows.api_urls")),
    path("", include("signing.api_urls")),
    path("", include("accounts.api_urls")),
    path("", include("certificates.api_urls")),
    path("", include("audit.api_urls")),
]
