from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from branding.views import branding_file

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("dsign.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("pki/", include("certificates.urls")),
    # Uploaded logo and emblem only (see branding.views); document files are never served from /media/.
    path("media/branding/<str:name>", branding_file, name="branding-file"),
    path("", include("accounts.urls")),
    # The office pages come before Django's auth routes: its sign-in page replaces Django's.
    path("", include("office.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]


def _not_found(request, exception=None):
    """JSON for the API (clients parse it), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)


handler404 = _not_found
