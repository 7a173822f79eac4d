"""The office web UI: inbox, my documents, compose, document view with live timeline, batch signing, verify,
my certificate. Each view parses input, calls one service or selector and renders; htmx fragments
(`office/_*.html`) are what the pages poll.
"""

from __future__ import annotations

import io
import json

import pikepdf
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import audit
from accounts.selectors import has_passkey, mfa_devices
from accounts.services import StepUpFailed
from certificates.selectors import certificate_for_encryption, certificates_visible
from core.errors import DomainError
from core.roles import IT_ADMIN, has_role
from core.sessions import passive
from core.thai import format_thai_datetime
from office.errors import domain_errors
from office.forms import (
    BatchForm,
    ComposeForm,
    DecisionForm,
    EncryptedCopyForm,
    EncryptedOpenForm,
    ListFilterForm,
    RecallForm,
    ResubmitForm,
    SignatureImageForm,
    VerifyForm,
)
from signing import services as signing_services
from signing import verification
from signing.models import SigningBatch
from signing.services import signing_batch_progress
from signing.verification_sandbox import VerifierBusy
from workflows import selectors, services
from workflows.models import DocumentStatus, WorkflowTemplate
from workflows.services.verification_link import verification_url

# htmx stops polling when a fragment answers with this status (the document or batch is finished).
HTMX_STOP_POLLING = 286
DOCUMENT_FINAL = {DocumentStatus.COMPLETED, DocumentStatus.REJECTED, DocumentStatus.RECALLED, DocumentStatus.CANCELLED}
# Default signature box, in PDF points; the composer starts from these and the signer may move them.
SLOT_WIDTH, SLOT_HEIGHT = services.SLOT_WIDTH, services.SLOT_HEIGHT


def _document_or_404(request, pk: int):
    document = selectors.document_detail(user=request.user, document_id=pk)
    if document is None:
        raise Http404
    return document


def _thai_date(moment) -> str:
    return format_thai_datetime(moment) if moment else ""


PAGE_SIZE = 25


def _listing(request, selector, *, sorts: dict, statuses=None, **arguments) -> tuple[ListFilterForm, list, dict, str]:
    """Filter, sort and page a list the same way on every list page: the form, the rows of this page, the
    pager (`next` cursor, whether this is a later page) and the query string without the cursor.

    Pages are keyset pages (`cursor`, signed, from the previous page's "next"); there is no page count."""
    form = ListFilterForm(request.GET or None, sorts=list(sorts), statuses=statuses)
    cursor = request.GET.get("cursor") or None
    rows, following = selector(
        user=request.user, sort=form.sort_key(), cursor=cursor, size=PAGE_SIZE, **form.filters(), **arguments
    )
    keep = request.GET.copy()
    keep.pop("cursor", None)
    return form, rows, {"next": following, "later": cursor is not None}, keep.urlencode()


@login_required
@require_GET
@domain_errors()
def inbox(request):
    """What waits for me (oldest first by default), searchable, with due dates; several can be signed with one OTP."""
    now = timezone.now()
    form, seats, pager, query = _listing(request, selectors.inbox_page, sorts=selectors.INBOX_SORTS)
    shown = selectors.latest_version_sha256s([a.document_id for a in seats])
    items = [
        {
            "assignment": a,
            "document": a.document,
            "sha256": shown.get(a.document_id, ""),
            "due_at": a.tier.due_at,
            "overdue": bool(a.tier.due_at and a.tier.due_at < now),
        }
        for a in seats
    ]
    delegated = list(selectors.inbox_delegated(request.user)[: selectors.DELEGATED_SHOWN])
    waiting = selectors.inbox_waiting(request.user)
    context = {
        "items": items,
        "delegated": delegated,
        "has_passkey": bool(items) and has_passkey(request.user),
        "nav": "inbox",
        "form": form,
        "page": pager,
        "query": query,
        "waiting": min(waiting, selectors.WAITING_SHOWN),
        "waiting_more": waiting > selectors.WAITING_SHOWN,
    }
    return render(request, "office/inbox.html", context)


@login_required
@require_GET
@domain_errors()
def my_documents(request):
    """What I sent and where each one stands: search, filters, sort, pages."""
    form, documents, pager, query = _listing(
        request,
        selectors.documents_page,
        sorts=selectors.DOCUMENT_SORTS,
        statuses=list(DocumentStatus.values),
        role="requester",
    )
    rows = [{"document": d, "waiting": selectors.waiting_for(d)} for d in selectors.with_routes(documents)]
    context = {"rows": rows, "nav": "documents", "form": form, "page": pager, "query": query}
    return render(request, "office/documents.html", context)


@login_required
@require_GET
@domain_errors()
def decided_documents(request):
    """What I approved, signed, returned or rejected ("signed by me"), newest first."""
    form, decisions, pager, query = _listing(
        request, selectors.decided_page, sorts=selectors.DECIDED_SORTS, statuses=list(DocumentStatus.values)
    )
    context = {"decisions": decisions, "nav": "decided", "form": form, "page": pager, "query": query}
    return render(request, "office/decided.html", context)


def _signers_for(template: WorkflowTemplate, requester) -> list[dict]:
    seats = []
    for tier in template.tiers.order_by("order"):
        for user in services.resolve_signers(tier=tier, requester=requester):
            seats.append(
                {"username": user.username, "name": user.full_name_th, "position": user.position, "tier": tier.order}
            )
    return seats


@login_required
@require_GET
def compose_signers(request):
    """The seats a workflow template would open for me: the composer draws one box per seat."""
    template = WorkflowTemplate.objects.filter(code=request.GET.get("workflow", ""), active=True).first()
    if template is None:
        return JsonResponse({"detail": "Unknown workflow template.", "code": "not_found"}, status=404)
    signers = _signers_for(template, request.user)
    positions = template.box_positions if isinstance(template.box_positions, list) else []
    return JsonResponse(
        {
            "workflow": template.code,
            "box": [SLOT_WIDTH, SLOT_HEIGHT],
            "signers": signers,
            # Boxes saved with the template for an uploaded form of this kind, by seat (route order).
            "saved": {seat["username"]: position for seat, position in zip(signers, positions, strict=False)},
        }
    )


def _memo_fields(form: ComposeForm):
    data = form.cleaned_data
    return services.MemoFields(
        department=data.get("government_unit") or "",
        number=data.get("reference") or "",
        date=data.get("memo_date") or None,
        subject=data["title"],
        to=data.get("addressee") or "",
        body=data.get("body") or "",
        attachments=[f.name for f in data.get("attachments") or []],
        urgency=data.get("urgency") or "",
        confidentiality=data.get("confidentiality") or "",
    )


def _memo_pdf(*, form: ComposeForm, requester) -> tuple[bytes, dict[str, dict]]:
    """The memo as PDF (the same renderer as the API's memos), and a box per seat below the body."""
    data = form.cleaned_data
    pdf, placements = services.memo_render(fields=_memo_fields(form), template=data["workflow"], requester=requester)
    return _with_attachments(pdf, data.get("attachments") or []), placements


def _with_attachments(pdf: bytes, attachments) -> bytes:
    """Append the attached PDFs' pages after the memo, so the signatures cover them too."""
    if not attachments:
        return pdf
    with pikepdf.open(io.BytesIO(pdf)) as out:
        for upload in attachments:
            with pikepdf.open(io.BytesIO(upload.read())) as extra:
                out.pages.extend(extra.pages)
        buffer = io.BytesIO()
        out.save(buffer)
    return buffer.getvalue()


@login_required
@require_POST
def compose_preview(request):
    """Render the memo to PDF for the composer to show and to place the boxes on (nothing is stored)."""
    form = ComposeForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"detail": _("Check the form."), "code": "invalid", "errors": form.errors}, status=400)
    if form.cleaned_data["source"] != "memo":
        return JsonResponse({"detail": _("Only a memo is rendered here."), "code": "invalid"}, status=400)
    try:
        pdf, placements = _memo_pdf(form=form, requester=request.user)
    except services.WorkflowError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status)
    except (ImportError, pikepdf.PdfError) as exc:
        return JsonResponse(
            {"detail": _("The memo could not be rendered: %(why)s") % {"why": exc}, "code": "invalid"}, status=400
        )
    response = HttpResponse(pdf, content_type="application/pdf")
    # The composer starts each seat's box in the memo's own signature block.
    response["X-Signature-Placements"] = json.dumps(placements)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def compose(request):
    """Compose a memo or upload a PDF, pick a workflow, place the boxes (composer.js), send."""
    form = ComposeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data.get("save_positions"):
                # Saved first, so an office user's request (refused) sends nothing either.
                services.template_positions_save(
                    template=data["workflow"], actor=request.user, placements=data.get("placements") or {}
                )
            if data["source"] == "memo" and not data.get("reference"):
                # No number typed: the send register gives the next one as the memo is sent (never at preview,
                # which would leave gaps), so the memo is rendered here again with it.
                attachments = data.get("attachments") or []
                document = services.memo_route_start(
                    title=data["title"],
                    fields=_memo_fields(form),
                    template=data["workflow"],
                    actor=request.user,
                    placements=data.get("placements") or {},
                    pdf_finish=lambda pdf: _with_attachments(pdf, attachments),
                )
            else:
                # The composer posts the PDF it showed (the rendered memo) as `file`; without script, render here.
                if data.get("file"):
                    pdf, placements = data["file"].read(), {}
                else:
                    pdf, placements = _memo_pdf(form=form, requester=request.user)
                document = services.route_start(
                    title=data["title"],
                    pdf=pdf,
                    template=data["workflow"],
                    actor=request.user,
                    placements={**placements, **(data.get("placements") or {})},
                    urgency=data.get("urgency") or "",
                    confidentiality=data.get("confidentiality") or "",
                )
        except services.WorkflowError as exc:
            form.add_error(None, exc.message)
        except (ImportError, pikepdf.PdfError) as exc:
            form.add_error(None, _("The memo could not be rendered: %(why)s") % {"why": exc})
        else:
            messages.success(request, _("Sent for approval: %(title)s") % {"title": document.title})
            if request.headers.get("X-Composer") == "1":
                return JsonResponse({"id": document.pk, "url": reverse("office-document", args=[document.pk])})
            return redirect("office-document", pk=document.pk)
    if request.method == "POST" and request.headers.get("X-Composer") == "1":
        return JsonResponse(
            {
                "detail": " ".join(form.non_field_errors()) or _("Check the form."),
                "code": "invalid",
                "errors": form.errors,
            },
            status=400,
        )
    context = {"form": form, "nav": "compose", "can_save_positions": has_role(request.user, IT_ADMIN)}
    return render(request, "office/compose.html", context)


def _timeline_context(request, document) -> dict:
    entries = selectors.timeline(document)
    for entry in entries:
        entry["when"] = _thai_date(entry["at"])
        due = entry["details"].get("due_at") if entry["action"] == "waiting" else None
        entry["due"] = _thai_date(due) if due else ""
    names = {document.requester.username: document.requester.full_name_th}
    for tier in document.tiers.all():
        for seat in tier.assignments.all():
            names[seat.signer.username] = seat.signer.full_name_th
            if seat.decided_by is not None:
                names[seat.decided_by.username] = seat.decided_by.full_name_th
    return {"document": document, "entries": entries, "names": names, "final": document.status in DOCUMENT_FINAL}


def _document_context(request, document, **extra) -> dict:
    """Everything the document page shows; `extra` carries what a refused decision keeps (comment, error)."""
    is_requester = document.requester_id == request.user.pk
    my_turn = selectors.my_turn(user=request.user, document=document)
    devices = [d for d in mfa_devices(request.user) if d["confirmed"]] if my_turn else []
    return {
        **_timeline_context(request, document),
        "tiers": selectors.current_tiers(document),
        "my_turn": my_turn,
        "otp_devices": devices,
        "has_passkey": any(d["kind"] == "webauthn" for d in devices),
        "passkey_required": my_turn and document.template.min_aal >= 3,
        "decision_form": DecisionForm(),
        "version": selectors.latest_version(document),
        "versions": list(selectors.versions(document)),
        "archive": selectors.archive_version(document),
        "verification_url": verification_url(document),
        "encrypted_form": EncryptedCopyForm(),
        "returned_by": selectors.returned_by(document) if document.status == DocumentStatus.RETURNED else None,
        "can_resubmit": is_requester and document.status == DocumentStatus.RETURNED,
        "can_recall": is_requester and document.status in (DocumentStatus.IN_PROGRESS, DocumentStatus.RETURNED),
        "resubmit_form": extra.pop("resubmit_form", None) or ResubmitForm(),
        "recall_form": extra.pop("recall_form", None) or RecallForm(),
        "nav": "documents" if is_requester else "inbox",
        **extra,
    }


@login_required
@require_GET
def document_view(request, pk: int):
    document = _document_or_404(request, pk)
    return render(request, "office/document.html", _document_context(request, document))


@passive  # polled every 3 s by the document page: must not keep the session alive
@login_required
@require_GET
def document_timeline(request, pk: int):
    """The live timeline fragment, polled by htmx every few seconds until the route ends.

    The route panel, status and version ride along as out-of-band swaps, so nothing on the page stays stale.
    """
    document = _document_or_404(request, pk)
    context = {
        **_timeline_context(request, document),
        "tiers": selectors.current_tiers(document),
        "version": selectors.latest_version(document),
        "versions": list(selectors.versions(document)),
        "oob": True,
    }
    response = render(request, "office/_timeline.html", context)
    if context["final"] and request.headers.get("HX-Request"):
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_POST
@domain_errors(redirect_to="office-document")
def document_decide(request, pk: int, decision: str):
    """Approve (with OTP), reject (confirmed, with a reason) or return (with a reason).

    A refused decision shows the page again with the typed comment kept and the reason in Thai; the OTP
    dialog opens again after a wrong code.
    """
    document = _document_or_404(request, pk)
    form = DecisionForm(request.POST)
    form.is_valid()
    comment = form.cleaned_data.get("comment", "")
    try:
        if decision == "approve":
            shown = form.cleaned_data.get("sha256") or ""
            if not shown:
                # The page always sends the version it showed; without it nobody knows what was approved.
                raise services.StaleVersion(
                    _("The page did not say which version you saw; reload it and decide again.")
                )
            services.decision_approve(
                document=document,
                actor=request.user,
                otp=form.cleaned_data.get("otp", ""),
                webauthn=form.cleaned_data.get("webauthn") or None,
                comment=comment,
                sha256=shown,
                request=request,
            )
            messages.success(request, _("Approved; your signature is being added."))
        elif decision == "reject":
            if not form.cleaned_data.get("confirm"):
                raise services.InvalidDocument(_("Confirm that you reject the document: a rejection ends the route."))
            services.decision_reject(document=document, actor=request.user, comment=comment)
            messages.success(request, _("Rejected."))
        elif decision == "return":
            services.decision_return(document=document, actor=request.user, comment=comment)
            messages.success(request, _("Returned for revision."))
        else:
            raise Http404
    except StepUpFailed as exc:
        context = _document_context(request, document, decision_comment=comment, otp_error=exc.message)
        return render(request, "office/document.html", context, status=exc.status)
    except DomainError as exc:
        context = _document_context(
            request, document, decision_comment=comment, decision_error=exc.message, decision_tried=decision
        )
        return render(request, "office/document.html", context, status=exc.status)
    return redirect("office-document", pk=pk)


@login_required
@require_POST
def otp_send(request):
    """ "Send me a code" from the OTP dialog: one e-mail or SMS to the user's own device (htmx fragment)."""
    from accounts.services import MFAError, mfa_challenge

    device_id = request.POST.get("device", "")
    try:
        mfa_challenge(user=request.user, device_id=device_id)
    except MFAError as exc:
        return render(request, "office/_otp_sent.html", {"error": exc.message}, status=exc.status)
    # django-otp answers in English ("sent by email"); say it here, with the masked address.
    address = next((d["address"] for d in mfa_devices(request.user) if d["id"] == device_id), "")
    sent = _("A code was sent to %(address)s; it is valid for a few minutes.") % {"address": address}
    return render(request, "office/_otp_sent.html", {"sent": sent})


@login_required
@require_POST
def document_resubmit(request, pk: int):
    """The requester sends a returned document again: a revised PDF (optional) and a note for the signers."""
    document = _document_or_404(request, pk)
    form = ResubmitForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        try:
            services.route_resubmit(
                document=document,
                actor=request.user,
                pdf=upload.read() if upload else None,
                comment=form.cleaned_data.get("comment", ""),
            )
        except services.WorkflowError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Sent again for approval: %(title)s") % {"title": document.title})
            return redirect("office-document", pk=pk)
    document = _document_or_404(request, pk)
    return render(request, "office/document.html", _document_context(request, document, resubmit_form=form), status=400)


@login_required
@require_POST
def document_recall(request, pk: int):
    """The requester takes a running document back, saying why (the signers are told)."""
    document = _document_or_404(request, pk)
    form = RecallForm(request.POST)
    if form.is_valid():
        try:
            services.route_recall(document=document, actor=request.user, reason=form.cleaned_data["reason"])
        except services.WorkflowError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Recalled: %(title)s") % {"title": document.title})
            return redirect("office-document", pk=pk)
    document = _document_or_404(request, pk)
    return render(request, "office/document.html", _document_context(request, document, recall_form=form), status=400)


def batch_form(request) -> BatchForm:
    """The batch as posted, narrowed to the posted documents that wait for me (not the whole inbox)."""
    posted = [int(v) for v in request.POST.getlist("documents") if v.isdigit() and len(v) < 19][:100]
    mine = list(selectors.inbox(request.user).filter(document_id__in=posted).values_list("document_id", flat=True))
    return BatchForm(request.POST, document_ids=mine)


def batch_documents(request, form: BatchForm) -> list:
    return list(selectors.documents_visible_to(request.user).filter(pk__in=form.cleaned_data["documents"]))


@login_required
@require_POST
@domain_errors(template="office/_batch.html")
def batch_start(request):
    """Approve the selected inbox items after one OTP (or one passkey); the page then polls the batch's progress."""
    form = batch_form(request)
    if not form.is_valid():
        return render(request, "office/_batch.html", {"error": _("Choose documents and enter the OTP.")}, status=400)
    documents = batch_documents(request, form)
    shown = form.versions_shown()
    unseen = [d for d in documents if not shown.get(d.pk)]
    batch, refused = services.decision_approve_batch(
        documents=[d for d in documents if shown.get(d.pk)],
        actor=request.user,
        otp=form.cleaned_data["otp"],
        comment=form.cleaned_data.get("comment", ""),
        sha256=shown,
        webauthn=form.cleaned_data.get("webauthn") or None,
        request=request,
    )
    refused += [
        {"document": d.pk, "detail": _("The page did not say which version you saw; reload it.")} for d in unseen
    ]
    return render(request, "office/_batch.html", _batch_context(batch=batch, refused=refused))


def _batch_context(*, batch: SigningBatch, refused: list | None = None) -> dict:
    progress = signing_batch_progress(batch=batch)
    total = progress["total"]
    percent = 100 if total == 0 else round(100 * progress["finished"] / total)
    return {
        "batch": batch,
        "progress": progress,
        "percent": percent,
        "refused": refused or [],
        "finished": percent >= 100,
    }


@passive  # polled every second while a batch signs
@login_required
@require_GET
def batch_progress(request, pk: int):
    batch = SigningBatch.objects.filter(pk=pk, signer_id=request.user.pk).first()
    if batch is None:
        raise Http404
    context = _batch_context(batch=batch)
    response = render(request, "office/_batch.html", context)
    if context["finished"] and request.headers.get("HX-Request"):
        response.status_code = HTMX_STOP_POLLING
    return response


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """Upload any PDF and read the verification report (in the page's language)."""
    report = None
    form = VerifyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        lang = "th" if (get_language() or "th").startswith("th") else "en"
        try:
            report = signing_services.document_verify(
                data=data, lang=lang, actor=request.user, password=form.cleaned_data.get("password")
            )
        except VerifierBusy as exc:
            form.add_error("file", signing_services.verifier_busy_message(exc))
            return render(request, "office/verify.html", {"form": form, "report": None, "nav": "verify"}, status=429)
        except verification.UnreadablePDF as exc:
            form.add_error("file", _("The file cannot be read as a PDF: %(why)s") % {"why": exc})
        else:
            report["file_name"] = form.cleaned_data["file"].name
            # A signature's own problems are listed under it; the top list keeps the rest (no line twice).
            own = {problem for sig in report["signatures"] for problem in sig.get("problems", [])}
            report["general_problems"] = [p for p in report.get("problems", []) if p not in own]
    return render(request, "office/verify.html", {"form": form, "report": report, "nav": "verify"})


def _pdf_download(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
@domain_errors(redirect_to="office-document")
def document_encrypted(request, pk: int):
    """Download an AES-256 encrypted copy, for a password or for recipients' encryption certificates."""
    from workflows.services.copies import document_encrypted_copy_make

    document = _document_or_404(request, pk)
    form = EncryptedCopyForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("office-document", pk=pk)
    data = document_encrypted_copy_make(
        document=document,
        actor=request.user,
        password=form.cleaned_data["password"],
        recipients=form.cleaned_data["recipients"],
    )
    return _pdf_download(data, f"document-{pk}-encrypted.pdf")


@login_required
@require_http_methods(["GET", "POST"])
def encrypted_open(request):
    """Open a copy encrypted to the user: their key in the HSM unwraps it after their fresh code."""
    from workflows.services.copies import encrypted_copy_open

    form = EncryptedOpenForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            data = encrypted_copy_open(
                user=request.user, data=form.cleaned_data["file"].read(), otp=form.cleaned_data["otp"], request=request
            )
        except DomainError as exc:
            form.add_error(None, _(exc.message))
            status = exc.status
        else:
            return _pdf_download(data, "signed-document.pdf")
    context = {
        "form": form,
        "has_certificate": certificate_for_encryption(user=request.user) is not None,
        "otp_devices": [d for d in mfa_devices(request.user) if d["confirmed"]],
        "nav": "verify",
    }
    return render(request, "office/encrypted_open.html", context, status=status)


@login_required
@require_POST
@domain_errors(redirect_to="office-me")
def encryption_certificate_request(request):
    """The user asks for their own encryption certificate (to receive encrypted copies)."""
    from certificates.services import encryption_certificate_issue

    encryption_certificate_issue(user=request.user, actor=request.user)
    messages.success(request, _("Your encryption certificate is issued; others can now send you encrypted copies."))
    return redirect("office-me")


@login_required
@require_http_methods(["GET", "POST"])
def my_certificate(request):
    """Certificate details, the agreement link, the handwritten signature image and MFA devices."""
    form = SignatureImageForm(request.POST or None, request.FILES or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(actor=request.user, action="accounts.signature_image_set", target=request.user, details={})
        messages.success(request, _("Your signature image is saved."))
        return redirect("office-me")
    context = {
        "form": form,
        "certificates": certificates_visible(user=request.user).filter(user=request.user).order_by("-created_at"),
        "devices": mfa_devices(request.user),
        "has_encryption_certificate": certificate_for_encryption(user=request.user) is not None,
        "nav": "me",
    }
    return render(request, "office/me.html", context)


@login_required
@require_GET
def signature_image(request):
    """The user's own signature image (media is not served publicly)."""
    if not request.user.signature_image:
        raise Http404
    with request.user.signature_image.open("rb") as handle:
        data = handle.read()
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return HttpResponse(data, content_type=kind)
