"""Batch signing: creating a batch and following its progress."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.response import Response

from integrations.idempotency import idempotent
from signing.models import SigningBatch
from signing.services import signing_batch_progress

from .. import selectors, services
from ..serializers import (
    MAX_ID,
    BatchChallengeIn,
    BatchCreatedOut,
    BatchIn,
    BatchProgressOut,
    BatchRefusedOut,
    PasskeyOptionsOut,
)
from .base import IDEMPOTENCY_KEY, ApiView, _batch_versions, _form, errors


def _named(request, ids: list[int]) -> tuple[list[int], dict]:
    """The ids asked for (once each, in order) and those of them the caller may see."""
    wanted = list(dict.fromkeys(ids))
    return wanted, {d.pk: d for d in selectors.documents_visible_to(request.user).filter(pk__in=wanted)}


class BatchCreate(ApiView):
    @extend_schema(
        summary="Approve and sign several documents after one OTP",
        description=(
            "One MFA step-up, then each document is approved in its own transaction; documents that cannot "
            "be approved are listed in `errors` and do not stop the others. Poll the batch for progress."
        ),
        request=BatchIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: BatchCreatedOut,
            409: OpenApiResponse(BatchRefusedOut, description="none of the documents could be approved"),
            **{code: r for code, r in errors(400, 403, 422).items()},
        },
        examples=[
            OpenApiExample(
                "batch",
                value={
                    "documents": [41, 42],
                    "otp": "123456",
                    "comment": "",
                    "sha256": {"41": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "accepted", value={"id": 7, "total": 2, "errors": []}, response_only=True, status_codes=["202"]
            ),
        ],
    )
    @idempotent
    def post(self, request):
        form, refusal = _form(BatchIn, request)
        if refusal:
            return refusal
        wanted, found = _named(request, form["documents"])
        missing = [{"document": pk, "detail": _("Not found."), "code": "not_found"} for pk in wanted if pk not in found]
        batch, refused = services.decision_approve_batch(
            documents=[found[pk] for pk in wanted if pk in found],
            actor=request.user,
            otp=form["otp"],
            webauthn=form["webauthn"],
            comment=form["comment"],
            sha256=_batch_versions(form["sha256"]),
            request=request,
        )
        problems = missing + refused
        if batch.total == 0:
            return Response(
                {"detail": _("None of the documents could be approved."), "code": "none_approved", "errors": problems},
                status=409,
            )
        return Response({"id": batch.pk, "total": batch.total, "errors": problems}, status=status.HTTP_202_ACCEPTED)


class BatchDetail(ApiView):
    @extend_schema(
        summary="Progress of a batch: how many signatures are done",
        responses={200: BatchProgressOut, **errors(404)},
        examples=[
            OpenApiExample(
                "half done",
                value={
                    "id": 7,
                    "total": 2,
                    "finished": 1,
                    "queued": 1,
                    "running": 0,
                    "waiting": 0,
                    "done": 1,
                    "failed": 0,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        batch = SigningBatch.objects.filter(pk=pk, signer_id=request.user.pk).first() if 0 < pk <= MAX_ID else None
        if batch is None:
            raise Http404
        return Response(signing_batch_progress(batch=batch))


class BatchChallenge(ApiView):
    @extend_schema(
        summary="A passkey challenge for approving several documents at once",
        description=(
            "Like `documents/{id}/approve/challenge/` for every listed document (each must be approvable now "
            "by the caller): the challenge carries all of them and their current versions; send its "
            "assertion as `webauthn` to `batches/` with the same documents."
        ),
        request=BatchChallengeIn,
        responses={200: PasskeyOptionsOut, **errors(400, 403, 404, 409)},
    )
    def post(self, request):
        form, refusal = _form(BatchChallengeIn, request)
        if refusal:
            return refusal
        wanted, found = _named(request, form["documents"])
        if len(found) != len(wanted):
            raise Http404
        options = services.approval_passkey_options(
            documents=[found[pk] for pk in wanted],
            actor=request.user,
            sha256=_batch_versions(form["sha256"]),
            request=request,
        )
        return Response(options)
