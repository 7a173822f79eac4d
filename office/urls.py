"""Routes of the office web UI: every HTML page of dsign (the REST API is under /api/v1/)."""

from django.urls import include, path

from .views import accounts, certificates, documents, passkeys, public

urlpatterns = [
    path("", documents.inbox, name="home"),
    path("inbox/", documents.inbox, name="office-inbox"),
    path("documents/", documents.my_documents, name="office-documents"),
    path("documents/decided/", documents.decided_documents, name="office-decided"),
    path("documents/new/", documents.compose, name="office-compose"),
    path("documents/new/preview/", documents.compose_preview, name="office-compose-preview"),
    path("documents/new/signers/", documents.compose_signers, name="office-compose-signers"),
    path("documents/<int:pk>/", documents.document_view, name="office-document"),
    path("documents/<int:pk>/timeline/", documents.document_timeline, name="office-timeline"),
    path("documents/<int:pk>/resubmit/", documents.document_resubmit, name="office-resubmit"),
    path("documents/<int:pk>/recall/", documents.document_recall, name="office-recall"),
    path("documents/<int:pk>/encrypted/", documents.document_encrypted, name="office-encrypted"),
    path("documents/<int:pk>/passkey/", passkeys.document_passkey, name="office-document-passkey"),
    path("documents/<int:pk>/<str:decision>/", documents.document_decide, name="office-decide"),
    path("batches/", documents.batch_start, name="office-batch"),
    path("batches/passkey/", passkeys.batch_passkey, name="office-batch-passkey"),
    path("batches/<int:pk>/", documents.batch_progress, name="office-batch-progress"),
    path("verify/", documents.verify, name="office-verify"),
    path("v/<str:token>/", public.public_verify, name="public-verify"),
    path("me/", documents.my_certificate, name="office-me"),
    path("me/encryption-certificate/", documents.encryption_certificate_request, name="office-encryption-request"),
    path("encrypted/open/", documents.encrypted_open, name="office-encrypted-open"),
    path("me/signature.png", documents.signature_image, name="office-signature-image"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/mfa/", accounts.mfa_devices, name="accounts-mfa"),
    path("accounts/mfa/passkey/options/", passkeys.mfa_passkey_options, name="accounts-passkey-options"),
    path("accounts/mfa/passkey/register/", passkeys.mfa_passkey_register, name="accounts-passkey-register"),
    path("accounts/mfa/passkey/challenge/", passkeys.mfa_passkey_challenge, name="accounts-passkey-challenge"),
    path("accounts/mfa/send/", documents.otp_send, name="office-otp-send"),
    path("pki/agreement/<int:pk>/<str:token>/", certificates.agreement, name="certificate-agreement"),
    path("pki/mine/", certificates.my_certificates, name="certificates-mine"),
    path("i18n/", include("django.conf.urls.i18n")),
]
