from django.urls import path

from . import api

urlpatterns = [
    path("workflows/", api.WorkflowList.as_view(), name="api-workflows"),
    path("documents/", api.DocumentListCreate.as_view(), name="api-documents"),
    path("documents/<int:pk>/", api.DocumentDetail.as_view(), name="api-document"),
    path("documents/<int:pk>/approve/", api.DocumentApprove.as_view(), name="api-document-approve"),
    path(
        "documents/<int:pk>/approve/challenge/",
        api.DocumentApproveChallenge.as_view(),
        name="api-document-approve-challenge",
    ),
    path("documents/<int:pk>/reject/", api.DocumentReject.as_view(), name="api-document-reject"),
    path("documents/<int:pk>/return/", api.DocumentReturn.as_view(), name="api-document-return"),
    path("documents/<int:pk>/recall/", api.DocumentRecall.as_view(), name="api-document-recall"),
    path("documents/<int:pk>/resubmit/", api.DocumentResubmit.as_view(), name="api-document-resubmit"),
    path("documents/<int:pk>/file/", api.DocumentFile.as_view(), name="api-document-file"),
    path("documents/<int:pk>/archive/", api.DocumentArchive.as_view(), name="api-document-archive"),
    path("documents/<int:pk>/evidence/", api.DocumentEvidence.as_view(), name="api-document-evidence"),
    path("documents/<int:pk>/encrypted/", api.DocumentEncrypted.as_view(), name="api-document-encrypted"),
    path("documents/<int:pk>/versions/", api.DocumentVersions.as_view(), name="api-document-versions"),
    path("documents/<int:pk>/timeline/", api.DocumentTimeline.as_view(), name="api-document-timeline"),
    path("encrypted-copies/open/", api.EncryptedCopyOpen.as_view(), name="api-encrypted-copy-open"),
    path("inbox/", api.Inbox.as_view(), name="api-inbox"),
    path("batches/", api.BatchCreate.as_view(), name="api-batches"),
    path("batches/challenge/", api.BatchChallenge.as_view(), name="api-batches-challenge"),
    path("batches/<int:pk>/", api.BatchDetail.as_view(), name="api-batch"),
]
