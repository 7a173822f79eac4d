from django.urls import path

from . import views

urlpatterns = [
    path("root.crt", views.root_certificate, name="pki-root"),
    path("ca/<str:kind>.crt", views.ca_certificate, name="pki-ca"),
    path("crl/<str:kind>.crl", views.crl, name="pki-crl"),
    path("ocsp", views.ocsp, name="pki-ocsp"),
    path("tsa", views.tsa, name="pki-tsa"),
]
