"""Routes of the office web UI (the API is in api_urls.py)."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.inbox, name="home"),
    path("inbox/", views.inbox, name="office-inbox"),
    path("documents/", views.my_documents, name="office-documents"),
    path("documents/new/", views.compose, name="office-compose"),
    path("documents/new/preview/", views.compose_preview, name="office-compose-preview"),
    path("documents/new/signers/", views.compose_signers, name="office-compose-signers"),
    path("documents/<int:pk>/", views.document_view, name="office-document"),
    path("documents/<int:pk>/timeline/", views.document_timeline, name="office-timeline"),
    path("documents/<int:pk>/<str:decision>/", views.document_decide, name="office-decide"),
    path("batches/", views.batch_start, name="office-batch"),
    path("batches/<int:pk>/", views.batch_progress, name="office-batch-progress"),
    path("verify/", views.verify, name="office-verify"),
    path("me/", views.my_certificate, name="office-me"),
    path("me/signature.png", views.signature_image, name="office-signature-image"),
    path("i18n/", include("django.conf.urls.i18n")),
]
