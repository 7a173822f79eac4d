"""Fixtures the signing tests share."""

import pytest

from signing.models import PadesLevel
from workflows.models import WorkflowTemplate


@pytest.fixture
def bb_template(db):
    """memo-2-tier signing at B-B (no TSA needed, so no live server)."""
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template
