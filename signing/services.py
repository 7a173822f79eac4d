"""Signing jobs: create them with the decision they serve, run them idempotently, report back.

A job is run by `signing_job_run`, which may be called any number of times for the same job (django-q2
can deliver a task twice, a sweeper re-enqueues stale jobs, a worker may be killed mid-way). The
signature is made with no transaction open, over the version the handler says is current; then one
short transaction marks the job done (only if it is not finished already) and has the handler check,
with the document row locked, that the decision still stands and the version signed is still the
current one before it stores the signed version — so a job stores at most one signature, signatures on
one document are strictly serialised, and a recall or cancellation that commits first means nothing is
stored. A ledger row (`SigningAttempt`) is written before each HSM/TSA call and completed after it, so
even a killed attempt leaves a trace.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import NoReturn, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_module
from django.utils.translation import gettext as _

import audit
from core import signer as signer_client
from core.backoff import backoff
from core.errors import DomainError
from core.tsa import timestamper

from .models import JobKind, JobStatus, PadesLevel, SigningAttempt, SigningBatch, SigningJob

logger = logging.getLogger(__name__)

# After the n-th transient failure a job waits 10 s, 20 s, 40 s… at most ten minutes.
BACKOFF_BASE = timedelta(seconds=10)
MAX_BACKOFF = timedelta(minutes=10)


class SubjectHandler(Protocol):
    """What the app that owns a document provides to signing (see workflows.signing_handler)."""

    # Without any lock: the version the job may sign now (an opaque `basis` handed back to store_signed)
    # and its bytes, or PermanentSigningError when the decision no longer stands (route ended, file changed).
    def signing_input(self, *, job: SigningJob) -> tuple[object, bytes]: ...
    # In the transaction that marks the job done: lock the subject, check again that the decision stands
    # (PermanentSigningError) and that `basis` is still current (SigningConflict: the job signs again),
    # then store the signed bytes.
    def store_signed(self, *, job: SigningJob, pdf: bytes, sha256: str, basis: object) -> None: ...
    def job_waiting(self, *, job: SigningJob) -> None: ...
    def job_failed(self, *, job: SigningJob) -> None: ...
    # Optional: every seat's signature field of the route the job signs in ({"field", "page", "box"}); the
    # first signature creates them all and certifies the document, each field locked when signed (pades).
    # `basis` is what signing_input returned for the version being signed.
    def signature_fields(self, *, job: SigningJob, basis: object) -> list[dict]: ...
    # Why an admin may not queue this job again (its decision was withdrawn), or "" when they may.
    def retry_refusal(self, *, job: SigningJob) -> str: ...


class PermanentSigningError(Exception):
    """Retrying will not help (bad input, unusable certificate). `message` is for a clerk."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class TransientSigningError(Exception):
    """A service is down (HSM, TSA, OCSP); the job waits and retries; the level is never lowered."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _handler(job: SigningJob) -> ModuleType:
    return import_module(job.handler)


def signing_job_create(
    *,
    handler: str,
    subject_id: int,
    field_name: str,
    level: str,
    kind: str = JobKind.SIGNATURE,
    certificate_id: int | None = None,
    page: int = 0,
    box: list[float] | None = None,
    appearance: dict | None = None,
    reason: str = "",
    location: str = "",
    batch: SigningBatch | None = None,
    activation: str = "",
    enqueue: bool = True,
) -> SigningJob:
    """Create a job inside the caller's transaction; it is enqueued when that transaction commits
    (``enqueue=False``: the caller enqueues its batch instead, see signing_batch_enqueue).

    A signature job carries the signature activation data (``activation``) that the signer checks.
    """
    job = SigningJob.objects.create(
        activation=activation,
        handler=handler,
        subject_id=subject_id,
        kind=kind,
        certificate_id=certificate_id,
        field_name=field_name,
        page=page,
        box=box,
        appearance=appearance or {},
        level=level,
        reason=reason,
        location=location,
        batch=batch,
    )
    if enqueue:
        transaction.on_commit(lambda: signing_job_enqueue(job_id=job.pk))
    return job


def signing_job_enqueue(*, job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("signing.tasks.run_signing_job", job_id, task_name=f"signing-job-{job_id}-{timezone.now().timestamp()}")


FINISHED = (JobStatus.DONE, JobStatus.FAILED)
# Signatures made again when another signature of the same document was stored while this one was being
# made (two seats of one tier signing at once); after that the job waits and the sweeper brings it back.
MAX_SIGN_ROUNDS = 4


class SigningConflict(Exception):
    """Raised by a handler's `store_signed` under the lock: the version signed is no longer the current one."""


def _job_get(job_id: int) -> SigningJob | None:
    """The job, with its certificate's status and validity read in the same statement."""
    from certificates.selectors import certificate_state_annotations

    return SigningJob.objects.filter(pk=job_id).annotate(**certificate_state_annotations("certificate_id")).first()


def signing_batch_enqueue(*, batch_id: int) -> None:
    """One task for the batch's queued jobs (after the transaction that created them commits)."""

    def enqueue() -> None:
        from django_q.tasks import async_task

        name = f"signing-batch-{batch_id}-{timezone.now().timestamp()}"
        async_task("signing.tasks.run_signing_batch", batch_id, task_name=name)

    transaction.on_commit(enqueue)


def signing_batch_run(*, batch_id: int, budget_s: float | None = None) -> dict[str, int]:
    """Sign a batch's queued documents back to back in this task, each job as `signing_job_run` does
    (its own attempt, checks and short store transaction), the signer, certificate chain, TSA client and
    revocation data prepared once for all of them. Jobs that are not queued (done, failed, waiting for
    a retry) are left to their own tasks; a job that this task does not reach (killed worker) stays
    queued and the sweeper enqueues it on its own.

    A task must end well inside the queue's timeout (a timed-out task is killed): after `budget_s`
    (half of Q_TIMEOUT) the task queues the rest of the batch as a new task and ends.
    """
    import time

    budget_s = settings.Q_CLUSTER["timeout"] / 2 if budget_s is None else budget_s
    deadline = time.monotonic() + budget_s
    prepared: dict = {}
    outcome: dict[str, int] = {}
    job_ids = SigningJob.objects.filter(batch_id=batch_id, status=JobStatus.QUEUED).order_by("pk")
    for job_id in list(job_ids.values_list("pk", flat=True)):
        if time.monotonic() > deadline:
            signing_batch_enqueue(batch_id=batch_id)
            outcome["continued"] = 1
            break
        status = signing_job_run(job_id=job_id, prepared=prepared)
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


def signing_job_run(*, job_id: int, prepared: dict | None = None) -> str:
    """Run one job; returns its status afterwards. Safe to call repeatedly and concurrently.

    The signature is made with no transaction open (on SQLite no write lock is held while the HSM, the
    TSA or an OCSP responder works): the handler gives the bytes to sign and the version they are, the
    signature is made and its level checked, and then one short transaction marks the job done (only
    if nobody else did), and lets the handler check under the document lock that the decision still
    stands and that the version signed is still the current one before it stores the result. When
    another signature of the document was stored meanwhile, the job signs the new version again
    (at most MAX_SIGN_ROUNDS times). `prepared` (a batch's) keeps the signer, certificate chain, TSA
    client and validation context from one job to the next.
    """
    job = _job_get(job_id)
    if job is None or job.status in FINISHED:
        return job.status if job else "missing"
    attempt = SigningAttempt.objects.create(job=job, worker_pid=os.getpid())
    handler = _handler(job)
    try:
        make = _prepared(job=job, cache=prepared if prepared is not None else {})
        status = _sign_and_store(job=job, handler=handler, make=make, attempt=attempt)
    except TransientSigningError as exc:
        _job_wait(job_id=job_id, code=exc.code, message=exc.message)
        attempt_close(attempt=attempt, outcome=SigningAttempt.Outcome.TRANSIENT, error=exc.message)
        return JobStatus.WAITING
    except PermanentSigningError as exc:
        _job_fail(job_id=job_id, code=exc.code, message=exc.message)
        attempt_close(attempt=attempt, outcome=SigningAttempt.Outcome.PERMANENT, error=exc.message)
        return JobStatus.FAILED
    if status == JobStatus.DONE and job.kind == JobKind.SIGNATURE:
        _activation_spend(job)
    return status


class _AlreadyFinished(Exception):
    pass


def _sign_and_store(*, job: SigningJob, handler: ModuleType, make: Callable, attempt: SigningAttempt) -> str:
    for _round in range(MAX_SIGN_ROUNDS):
        basis, pdf = handler.signing_input(job=job)
        route_fields = _route_fields(handler=handler, job=job, basis=basis)
        signed = make(job, pdf, route_fields)
        level_reached = _level_check(job=job, pdf=signed)
        sha256 = hashlib.sha256(signed).hexdigest()
        completes = getattr(handler, "may_complete", None)
        if completes is not None and completes(job=job, basis=basis):
            # The handler will verify the file it completes with under its lock (and, on SQLite, the write
            # lock): verified here first, with no transaction open, that check finds the verdict ready.
            final_file_problems(pdf=signed)
        try:
            # The events of the store (signature made, tier opened, document completed) are appended to the
            # audit chain together at the end: the chain head's lock is then held only until the commit,
            # not while the route advances (approvals of other documents wait for that lock).
            with transaction.atomic(), audit.together():
                # The "done" mark first: it takes the job row's lock, and a job somebody else finished
                # meanwhile (a task delivered twice) changes nothing.
                claimed = (
                    SigningJob.objects.filter(pk=job.pk)
                    .exclude(status__in=FINISHED)
                    .update(
                        status=JobStatus.DONE,
                        result_sha256=sha256,
                        result_level=level_reached,
                        finished_at=timezone.now(),
                        attempts=F("attempts") + 1,
                        error_code="",
                        error_message="",
                        next_attempt_at=None,
                    )
                )
                if not claimed:
                    raise _AlreadyFinished
                try:
                    handler.store_signed(job=job, pdf=signed, sha256=sha256, basis=basis)
                except OSError as exc:
                    # Disk full, storage unmounted, permissions: nothing was committed; retry later.
                    raise TransientSigningError(
                        "storage_unavailable",
                        f"Waiting for file storage: the signed document could not be saved ({_os_reason(exc)}).",
                    ) from exc
                audit.record(
                    action="signing.signature_made"
                    if job.kind == JobKind.SIGNATURE
                    else "signing.document_timestamped",
                    target=("signing.signingjob", job.pk),
                    details={
                        "field": job.field_name,
                        "level": job.level,
                        "level_achieved": level_reached,
                        "sha256": sha256,
                        "subject": job.subject_id,
                    },
                )
                attempt_close(attempt=attempt, outcome=SigningAttempt.Outcome.SUCCESS)
        except SigningConflict:
            continue
        except _AlreadyFinished:
            attempt_close(attempt=attempt, outcome=SigningAttempt.Outcome.SUCCESS, error="already done")
            return SigningJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
        return JobStatus.DONE
    raise TransientSigningError(
        "version_conflict",
        "Waiting to sign again: other signatures of this document were stored while this one was being made.",
    )


def _activation_spend(job: SigningJob) -> None:
    """The signature is stored: tell the signer its activation is spent (a later replay is refused)."""
    try:
        signer_client.call("confirm", sad=job.activation, subject=job.subject_id)
    except signer_client.SignerError as exc:
        # The job is done either way; an unspent activation still expires and covers nothing else.
        logger.warning("signer did not confirm job %s: %s", job.pk, exc.message)


def _level_check(*, job: SigningJob, pdf: bytes) -> str:
    """The PAdES level `pdf` reaches for what `job` added; PermanentSigningError below the requested one.

    pyHanko signs a certificate without CRL or OCSP addresses at "B-LT" without any revocation data, which
    is B-T in fact; the result is checked, not the request.
    """
    from .verification import document_timestamp_level, signature_level

    if job.kind == JobKind.SIGNATURE and job.level == PadesLevel.B_B:
        # Nothing is below B-B to fall to; reading the result back (≈ 30 % of a B-B job's CPU, pyHanko
        # parsing the /Contents hex string) is left to the check of the final file before completion.
        return PadesLevel.B_B
    try:
        if job.kind == JobKind.DOCUMENT_TIMESTAMP:
            reached, required = document_timestamp_level(pdf=pdf), PadesLevel.B_LTA
        else:
            # A B-LTA signature is made at B-LT; the route's document timestamp makes it B-LTA.
            reached = signature_level(pdf=pdf, field_name=job.field_name)
            required = PadesLevel.B_LT if job.level == PadesLevel.B_LTA else job.level
    except Exception as exc:  # noqa: BLE001 - a result we cannot read back is not stored
        raise PermanentSigningError("level_not_reached", f"The signed result cannot be checked: {exc}") from exc
    if LEVEL_ORDER.index(reached) < LEVEL_ORDER.index(required):
        raise PermanentSigningError(
            "level_not_reached",
            f"The signature reaches only PAdES {reached}, but the template asks for {job.level}: no "
            "revocation information (CRL or OCSP) for the certificate chain could be embedded.",
        )
    return reached


LEVEL_ORDER = [PadesLevel.B_B, PadesLevel.B_T, PadesLevel.B_LT, PadesLevel.B_LTA]


def _route_fields(*, handler: ModuleType, job: SigningJob, basis: object) -> Callable[[], list[tuple]] | None:
    """The route's signature fields for `pades.sign_pdf(route_fields=)`, or None (a handler without them):
    a function, so they are asked for only for a file's first signature (the one that creates them);
    `basis` is what the handler's signing_input returned (it may have read them already)."""
    fields = getattr(handler, "signature_fields", None)
    if job.kind != JobKind.SIGNATURE or fields is None:
        return None

    @functools.cache
    def listed() -> list[tuple]:
        listed = fields(job=job, basis=basis)
        return [(f["field"], int(f["page"]), tuple(f["box"]) if f.get("box") else None) for f in listed]

    return listed


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc) or type(exc).__name__


def attempt_close(*, attempt: SigningAttempt, outcome: str, error: str = "") -> None:
    SigningAttempt.objects.filter(pk=attempt.pk).update(outcome=outcome, error=error, finished_at=timezone.now())


@transaction.atomic
def _job_wait(*, job_id: int, code: str, message: str) -> None:
    job = SigningJob.objects.select_for_update().get(pk=job_id)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return
    job.attempts += 1
    job.status = JobStatus.WAITING
    job.error_code = code
    job.error_message = message
    job.next_attempt_at = timezone.now() + backoff(job.attempts, base=BACKOFF_BASE, cap=MAX_BACKOFF)
    job.save(update_fields=["attempts", "status", "error_code", "error_message", "next_attempt_at"])
    _handler(job).job_waiting(job=job)
    audit.record(
        action="signing.waiting",
        target=("signing.signingjob", job.pk),
        outcome="failure",
        details={"code": code, "message": message, "retry_at": job.next_attempt_at, "subject": job.subject_id},
    )


@transaction.atomic
def _job_fail(*, job_id: int, code: str, message: str) -> None:
    job = SigningJob.objects.select_for_update().get(pk=job_id)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return
    job.attempts += 1
    job.status = JobStatus.FAILED
    job.error_code = code
    job.error_message = message
    job.finished_at = timezone.now()
    job.save(update_fields=["attempts", "status", "error_code", "error_message", "finished_at"])
    _handler(job).job_failed(job=job)
    audit.record(
        action="signing.failed",
        target=("signing.signingjob", job.pk),
        outcome="failure",
        details={"code": code, "message": message, "subject": job.subject_id},
    )


class RetryRefused(DomainError):
    code = "retry_refused"
    status = 409


def signing_job_retry(*, job: SigningJob, actor) -> None:
    """Admin action: put a failed or waiting job back in the queue (e.g. after renewing a certificate).

    A failed signature whose seat reopened cannot be retried: the decision it served was withdrawn, and
    only the signer's new approval (with a fresh factor) may produce that signature.
    """
    refusal = _handler(job).retry_refusal(job=job) if job.status == JobStatus.FAILED else ""
    if refusal:
        raise RetryRefused(refusal)
    with transaction.atomic():
        updated = SigningJob.objects.filter(pk=job.pk, status__in=[JobStatus.FAILED, JobStatus.WAITING]).update(
            status=JobStatus.QUEUED, next_attempt_at=None, finished_at=None
        )
        if updated:
            audit.record(actor=actor, action="signing.retry_requested", target=("signing.signingjob", job.pk))
            transaction.on_commit(lambda: signing_job_enqueue(job_id=job.pk))


def signing_jobs_resume(*, stale_after: timedelta | None = None) -> int:
    """Scheduled sweeper: enqueue waiting jobs that are due and queued jobs that nobody picked up."""
    now = timezone.now()
    stale_after = stale_after or timedelta(seconds=settings.Q_CLUSTER["retry"])
    due = list(
        SigningJob.objects.filter(status=JobStatus.WAITING, next_attempt_at__lte=now).values_list("pk", flat=True)
    )
    stale = list(
        SigningJob.objects.filter(status=JobStatus.QUEUED, created_at__lte=now - stale_after).values_list(
            "pk", flat=True
        )
    )
    for job_id in due + stale:
        signing_job_enqueue(job_id=job_id)
    return len(due) + len(stale)


def _prepared(*, job: SigningJob, cache: dict) -> Callable[..., bytes]:
    """The function that makes `job`'s signature (or document timestamp) over given PDF bytes.

    What is the same for every signature of one signer at one level (the activated signer with its
    certificate chain, the TSA client, the validation context that fetches and keeps revocation data) is
    made once and kept in `cache`, so a batch prepares it once; what belongs to the document (field,
    page, box, stamp, reason) is given per job. Every error, here or in that function, is classified as
    transient or permanent.
    """
    try:
        if job.kind == JobKind.DOCUMENT_TIMESTAMP:
            return _classified(_timestamp_maker(cache))
        _certificate_check(job)
        key = (job.certificate_id, job.level, job.activation)
        made = cache.get(key)
        if made is None:
            made = cache[key] = _signature_maker(job)
        return _classified(made)
    except (PermanentSigningError, TransientSigningError):
        raise
    except Exception as exc:  # noqa: BLE001 - _classify raises a typed error or re-raises as-is
        _classify(exc)


def _certificate_check(job: SigningJob) -> None:
    from certificates.selectors import CertificateNotUsable, certificate_refusal

    if not job.activation:
        raise PermanentSigningError(
            "activation_missing",
            _("No signature activation: the signer's own one-time code must confirm this document."),
        )
    try:
        certificate_refusal(job, prefix="certificate_")
    except CertificateNotUsable as exc:
        raise PermanentSigningError("certificate_not_usable", str(exc)) from exc


def _timestamp_maker(cache: dict) -> Callable[..., bytes]:
    from . import pades

    made = cache.get("timestamp")
    if made is None:
        tsa, context = timestamper(), validation_context(for_signing=True)

        def made(job: SigningJob, pdf: bytes, _route_fields=None) -> bytes:
            return pades.add_document_timestamp(pdf=pdf, timestamper=tsa, validation_context=context)

        cache["timestamp"] = made
    return made


def _signature_maker(job: SigningJob) -> Callable[..., bytes]:
    from certificates.selectors import signing_credentials_cached

    from . import pades
    from .activated_signer import ActivatedSigner

    credentials = signing_credentials_cached(
        certificate_id=job.certificate_id, key_label=job.certificate_key_label, serial=job.certificate_serial
    )
    needs_tsa = job.level != PadesLevel.B_B
    shared = dict(
        level=PadesLevel.B_LT if job.level == PadesLevel.B_LTA else job.level,
        timestamper=timestamper() if needs_tsa else None,
        validation_context=validation_context(for_signing=True) if needs_tsa else None,
    )
    signer = ActivatedSigner(
        activation=job.activation,
        subject_id=job.subject_id,
        key_label=credentials.key_label,
        signing_cert=_parsed(credentials.certificate),
        other_certs=[_parsed(c) for c in credentials.chain],
    )
    images: dict[str, bytes | None] = {}

    def made(job: SigningJob, pdf: bytes, route_fields=None) -> bytes:
        signer.subject_id = job.subject_id
        return pades.sign_pdf(
            pdf=pdf,
            signer=signer,
            route_fields=route_fields,
            field_name=job.field_name,
            page=job.page,
            box=tuple(job.box) if job.box else None,
            appearance=_appearance(job.appearance, images=images),
            reason=job.reason or None,
            location=job.location or None,
            contact=None,
            **shared,
        )

    return made


def _classified(make: Callable[..., bytes]) -> Callable[..., bytes]:
    def run(job: SigningJob, pdf: bytes, route_fields=None) -> bytes:
        try:
            return make(job, pdf, route_fields)
        except (PermanentSigningError, TransientSigningError):
            raise
        except Exception as exc:  # noqa: BLE001 - _classify raises a typed error or re-raises as-is
            _classify(exc)
            raise

    return run


def _classify(exc: Exception) -> NoReturn:
    from core import hsm

    from . import pades

    if isinstance(exc, pades.SigningInputError):
        raise PermanentSigningError("bad_input", f"The document cannot be signed: {exc}") from exc
    if isinstance(exc, pades.SigningServiceUnavailable):
        raise TransientSigningError(
            "service_unavailable", f"Waiting for the timestamp or revocation service: {exc}"
        ) from exc
    if isinstance(exc, signer_client.SignerUnavailable) and exc.code == "hsm_unavailable":
        raise TransientSigningError("hsm_unavailable", f"Waiting for the HSM: {exc.message}") from exc
    if isinstance(exc, signer_client.SignerUnavailable):
        raise TransientSigningError(
            "signer_unavailable", _("Waiting for the signer: %(reason)s") % {"reason": exc.message}
        ) from exc
    if isinstance(exc, signer_client.SignerError):
        if exc.code == "key_missing":
            raise PermanentSigningError("key_missing", "The signer's key is not in the HSM.") from exc
        raise PermanentSigningError(exc.code, _("The signer refused: %(reason)s") % {"reason": exc.message}) from exc
    if isinstance(exc, hsm.KeyNotFound):
        raise PermanentSigningError("key_missing", "The signer's key is not in the HSM.") from exc
    if isinstance(exc, hsm.HSMError):
        raise TransientSigningError("hsm_unavailable", f"Waiting for the HSM: {exc}") from exc
    raise exc


# Certificates parsed once per process (by their DER): asn1crypto parses lazily and keeps what it
# parsed, so a reused object is cheaper to put into every signature than a fresh one.
_parsed_certificates: dict[bytes, object] = {}


def _parsed(certificate):
    der = certificate.dump()
    cached = _parsed_certificates.get(der)
    if cached is None:
        if len(_parsed_certificates) > 1024:
            _parsed_certificates.clear()
        cached = _parsed_certificates[der] = certificate
    return cached


def _appearance(data: dict, *, images: dict | None = None):
    """The stamp of a job; `images` keeps the handwritten signature images already read (a batch's)."""
    from datetime import datetime

    from .pades import Appearance

    if not data:
        return None
    image = None
    path = data.get("image_path")
    if path:
        images = {} if images is None else images
        if path not in images:
            from django.core.files.storage import default_storage

            with default_storage.open(path, "rb") as fh:
                images[path] = fh.read()
        image = images[path]
    return Appearance(
        full_name_th=data.get("full_name_th", ""),
        position=data.get("position", ""),
        acting_for=data.get("acting_for") or None,
        signed_at=datetime.fromisoformat(data["signed_at"]) if data.get("signed_at") else timezone.now(),
        era=data.get("era", settings.SIGNATURE_DATE_ERA),
        handwritten_png=image,
        comment=data.get("comment", ""),
    )


def validation_context(*, for_signing: bool):
    """Trust roots from the database; fetching revocation info is allowed only when signing (B-LT)."""
    from pyhanko_certvalidator import ValidationContext

    from certificates.selectors import trust_roots_list

    return ValidationContext(
        trust_roots=trust_roots_list(),
        allow_fetching=for_signing,
        revocation_mode="hard-fail" if for_signing else "soft-fail",
    )


def signing_batch_progress(*, batch: SigningBatch) -> dict:
    counts = {status: 0 for status in JobStatus.values}
    for row in batch.jobs.values("status"):
        counts[row["status"]] += 1
    finished = counts[JobStatus.DONE] + counts[JobStatus.FAILED]
    return {"id": batch.pk, "total": batch.total, "finished": finished, **counts}


def signing_batch_create(*, signer) -> SigningBatch:
    """A batch for one signer's single MFA step-up; its jobs are attached as the approvals are recorded."""
    return SigningBatch.objects.create(signer_id=signer.pk, total=0)


def document_verify(*, data: bytes, lang: str, actor, password: str | None = None) -> dict:
    """Verify an uploaded PDF against the configured trust roots and record that it was verified.

    Admission: at most `VERIFY_MAX_CONCURRENT` verifications at once and `VERIFY_MAX_CONCURRENT_PER_USER`
    per user; over that `verification_sandbox.VerifierBusy` (the doors answer 429).
    Raises verification.UnreadablePDF (and its EncryptedPDF) when the file cannot be read as a PDF.
    """
    from .verification_sandbox import verification_slot

    with verification_slot(user_key=str(getattr(actor, "pk", None) or "anonymous")):
        report = _verify(data=data, lang=lang, password=password or None)
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="document.verified",
            target=None,
            details={"valid": report["valid"], "signatures": len(report["signatures"]), "size": len(data)},
        )
    return report


def signature_activate(*, user, code: str, items: list[dict], request=None) -> str:
    """The MFA step-up of a signature: the signer checks the user's code and returns activation data
    bound to ``items`` ({subject, sha256, size}: the document versions the user confirmed).

    Raises accounts.services.StepUpFailed like ``mfa_step_up`` (it is that step-up, with the same
    throttling and audit events); a code from a device that the signer cannot check (enrolled before
    factors were sealed, see ``manage.py factors_seal``) cannot activate a signature.
    """
    activation, _device = signature_activate_with_device(user=user, code=code, items=items, request=request)
    return activation


def signature_activate_with_device(
    *, user, code: str, items: list[dict], request=None, min_aal: int = 1, assertion=None
):
    """``signature_activate`` that also returns the device whose code activated it (for its assurance
    level); devices below ``min_aal`` are not tried, so a code from one of them is not spent.

    With ``assertion`` (a passkey's answer to ``signature_passkey_options`` for the same items) instead of
    a code, the signer checks it and issues activation data for exactly those items.
    """
    from accounts import services as accounts_services

    context: dict = {"activation_items": items}
    if assertion:
        from core.passkeys import items_binding

        device = accounts_services.passkey_step_up(
            user=user,
            assertion=assertion,
            purpose="sign",
            binding=items_binding(items),
            request=request,
            verifier_context=context,
        )
    else:
        device = accounts_services.mfa_step_up(
            user=user, code=code, purpose="sign", request=request, min_aal=min_aal, verifier_context=context
        )
    if not context.get("activation"):
        raise accounts_services.StepUpFailed(
            _("This MFA device cannot activate signatures; enrol it again or use a backup code.")
        )
    return context["activation"], device


def decryption_activate(*, user, code: str, items: list[dict], request=None) -> str:
    """The recipient's fresh step-up before their key unwraps a copy's file key: activation data from the
    signer bound to ``items`` (the wrapped keys, {subject, sha256, size}), usable only to decrypt them."""
    from accounts import services as accounts_services

    context: dict = {"activation_items": items, "activation_purpose": "decrypt"}
    accounts_services.mfa_step_up(user=user, code=code, purpose="decrypt", request=request, verifier_context=context)
    if not context.get("activation"):
        raise accounts_services.StepUpFailed(
            _("This MFA device cannot open encrypted copies; enrol it again or use a backup code.")
        )
    return context["activation"]


def signature_passkey_options(*, user, items: list[dict], request=None) -> dict:
    """navigator.credentials.get() options whose challenge carries ``items`` (the documents and versions
    the user is about to approve): its assertion activates a signature for them and nothing else."""
    from accounts import services as accounts_services
    from core.passkeys import items_binding

    return accounts_services.passkey_options(user=user, purpose="sign", binding=items_binding(items), request=request)


def _verify(*, data: bytes, lang: str, password: str | None = None, timeout_s: float = 30) -> dict:
    from . import verification
    from .selectors import verification_revocations, verification_trust_roots

    return verification.verify_pdf_bytes(
        data=data,
        trust_roots=verification_trust_roots(),
        lang=lang,
        password=password,
        revocations=verification_revocations(),
        timeout_s=timeout_s,
    )


def verifier_busy_message(exc) -> str:
    """What to tell someone whose verification was not admitted (`verification_sandbox.VerifierBusy`)."""
    from django.utils.translation import gettext as _

    if exc.scope == "user":
        return _("You already have verifications running; wait for them to finish and try again.")
    return _("The verifier is busy with other documents; try again in a few seconds.")


FINAL_CHECK_TIMEOUT_S = 180


# Verdicts of final files this process verified in the last FINAL_VERDICT_SECONDS: (sha256, lang) ->
# (when, problems). A signing job verifies the file it is about to store when that store may complete the
# document, before its transaction; the completion check under the lock then finds the same bytes' verdict.
_final_verdicts: dict[tuple[str, str], tuple[float, list[str]]] = {}
FINAL_VERDICT_SECONDS = 60


def final_file_problems(*, pdf: bytes, lang: str = "en") -> list[str]:
    """Why a document's final signed file is not valid (empty: it is); asked before a document completes."""
    import time

    from . import verification

    key, now = (hashlib.sha256(pdf).hexdigest(), lang), time.monotonic()
    known = _final_verdicts.get(key)
    if known is not None and now - known[0] < FINAL_VERDICT_SECONDS:
        return list(known[1])
    try:
        # dsign's own file, however many signatures it holds: more time than an upload gets
        report = _verify(data=pdf, lang=lang, timeout_s=FINAL_CHECK_TIMEOUT_S)
    except verification.UnreadablePDF as exc:
        problems = [str(exc)]
    else:
        problems = [] if report["valid"] else (report["problems"] or ["not valid"])
    for stale in [k for k, (at, _problems) in _final_verdicts.items() if now - at >= FINAL_VERDICT_SECONDS]:
        _final_verdicts.pop(stale, None)
    _final_verdicts[key] = (now, list(problems))
    return problems
