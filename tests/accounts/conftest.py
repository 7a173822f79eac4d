"""Fixtures of the accounts tests: a document in progress whose first tier head1..3 can approve."""

from __future__ import annotations

import pytest


@pytest.fixture
def document_in_progress(personas, pdf_bytes):
    from workflows import services
    from workflows.models import WorkflowTemplate

    return services.route_start(
        title="บันทึกทดสอบสิทธิ์",
        pdf=pdf_bytes,
        template=WorkflowTemplate.objects.get(code="memo-2-tier"),
        actor=personas["requester"],
    )
