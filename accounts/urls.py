from django.urls import include, path

from . import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/mfa/", views.mfa_devices, name="accounts-mfa"),
    path("oidc/", include("mozilla_django_oidc.urls")),
]
