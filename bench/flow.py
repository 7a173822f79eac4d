"""The API flow of DESIGN.md over HTTP, as an outside client does it: upload, approve with OTPs, wait, download.

Shared by the topology check, the pipeline benchmark and the fault tests.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import requests


class FlowError(AssertionError):
    pass


class Api:
    """One user's token-authenticated view of the REST API."""

    def __init__(self, *, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)


def one_page_pdf(text: str = "") -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    if text:
        pdf.docinfo["/Subject"] = text
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def document_upload(*, api: Api, pdf: bytes, title: str, workflow: str = "memo-2-tier") -> dict:
    response = api.post(
        "/api/v1/documents/",
        files={"file": ("memo.pdf", pdf, "application/pdf")},
        data={"title": title, "workflow": workflow},
    )
    if response.status_code != 201:
        raise FlowError(f"upload: {response.status_code} {response.text[:300]}")
    return response.json()


def document_approve(*, api: Api, document_id: int, otp: str) -> requests.Response:
    return api.post(f"/api/v1/documents/{document_id}/approve/", json={"otp": otp, "comment": ""})


def document_get(*, api: Api, document_id: int) -> dict:
    response = api.get(f"/api/v1/documents/{document_id}/")
    if response.status_code != 200:
        raise FlowError(f"GET document {document_id}: {response.status_code} {response.text[:300]}")
    return response.json()


def document_wait(
    *, api: Api, document_id: int, until: Callable[[dict], bool], timeout: float = 120, poll: float = 0.2
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        document = document_get(api=api, document_id=document_id)
        if until(document):
            return document
        if time.monotonic() > deadline:
            raise FlowError(f"document {document_id} did not get there in {timeout:.0f} s: {document}")
        time.sleep(poll)


def tier_active(order: int) -> Callable[[dict], bool]:
    return lambda d: any(t["order"] == order and t["status"] == "active" for t in d["tiers"])


def completed(document: dict) -> bool:
    if document["status"] not in ("in_progress", "completed"):
        raise FlowError(f"document {document['id']} ended {document['status']}: {document.get('waiting_reason')}")
    if "failed" in (document.get("waiting_reason") or "").lower():
        raise FlowError(f"document {document['id']}: {document['waiting_reason']}")
    return document["status"] == "completed"


def approve_until_accepted(*, api: Api, document_id: int, otp: str, timeout: float = 60) -> None:
    """Approve; a 403/409 because the tier is not open yet is retried until it opens."""
    deadline = time.monotonic() + timeout
    while True:
        response = document_approve(api=api, document_id=document_id, otp=otp)
        if response.status_code == 202:
            return
        if time.monotonic() > deadline or "OTP" in response.text or response.status_code >= 500:
            raise FlowError(f"approve {document_id}: {response.status_code} {response.text[:300]}")
        time.sleep(0.2)


def memo_flow(
    *,
    base_url: str,
    tokens: dict[str, str],
    otps: dict[str, Callable[[], str]],
    pdf: bytes,
    title: str = "บันทึกข้อความ ตรวจสอบระบบ",
    timeout: float = 180,
) -> tuple[dict, bytes]:
    """memo-2-tier end to end: requester uploads, head1 and head2 approve, then the director; returns the
    completed document and its final file."""
    apis = {user: Api(base_url=base_url, token=token) for user, token in tokens.items()}
    document = document_upload(api=apis["requester"], pdf=pdf, title=title)
    document_id = document["id"]
    for head in ("head1", "head2"):
        approve_until_accepted(api=apis[head], document_id=document_id, otp=otps[head]())
    document_wait(api=apis["director"], document_id=document_id, until=tier_active(2), timeout=timeout)
    approve_until_accepted(api=apis["director"], document_id=document_id, otp=otps["director"]())
    document = document_wait(api=apis["requester"], document_id=document_id, until=completed, timeout=timeout)
    response = apis["requester"].get(f"/api/v1/documents/{document_id}/file/")
    if response.status_code != 200 or response.headers.get("Content-Type") != "application/pdf":
        raise FlowError(f"file: {response.status_code} {response.headers.get('Content-Type')}")
    return document, response.content


def documents_start(count: int, *, level: str) -> list[int]:
    """`count` memo-2-tier routes started directly through the service (at PAdES `level`); their ids."""
    from accounts.models import User
    from workflows import services
    from workflows.models import WorkflowTemplate

    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=level)
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    requester = User.objects.get(username="requester")
    pdf = one_page_pdf()
    return [
        services.route_start(title=f"bench {i}", pdf=pdf, template=template, actor=requester, placements=None).pk
        for i in range(count)
    ]
