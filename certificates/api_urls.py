from django.urls import path

from . import api

urlpatterns = [
    path("certificates/", api.CertificateList.as_view(), name="api-certificates"),
    path("certificates/<int:pk>/", api.CertificateDetail.as_view(), name="api-certificate"),
    path("certificates/encryption/", api.EncryptionCertificateIssue.as_view(), name="api-certificate-encryption"),
    path("certificates/<int:pk>/csr/", api.CertificateCsr.as_view(), name="api-certificate-csr"),
    path("certificates/<int:pk>/import/", api.CertificateImport.as_view(), name="api-certificate-import"),
    path("certificates/<int:pk>/revoke/", api.CertificateRevoke.as_view(), name="api-certificate-revoke"),
    path("certificates/<int:pk>/accept/", api.CertificateAccept.as_view(), name="api-certificate-accept"),
]
