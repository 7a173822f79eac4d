"""PAdES signing of PDF bytes: one signature per call, added as an incremental update.

This module owns the choice of PAdES level (B-B, B-T, B-LT, B-LTA), the visible stamp, the
space reserved for the signature container, the archival document timestamp, and the
split of every failure into a permanent :class:`SigningInputError` (retrying cannot help)
or a transient :class:`SigningServiceUnavailable` (TSA, OCSP or CRL server unreachable:
retry later). It takes a pyHanko ``Signer`` and does not care where the key lives.

A requested level is never lowered: B-T and above need a timestamper, B-LT and above a
validation context, and missing revocation data fails the call instead of producing a
weaker signature.

dsign's own documents are locked (``route_fields``): the first signature creates the
signature field of every seat of the route, each with a ``/Lock`` on its own field (FieldMDP
Include: once that field is signed, a change to it invalidates its signature), and is a
certification signature with DocMDP P=2 (only filling the existing signature fields, document
timestamps and validation data may follow). Later signatures fill their existing field; a
certified document never gets a new field, so a field missing from it is a permanent error.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator
from typing import Literal

import aiohttp
import requests
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject, IndirectObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import LayoutError
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    MDPPerm,
    SigFieldSpec,
    SigSeedSubFilter,
    append_signature_field,
    enumerate_sig_fields,
)
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, Signer
from pyhanko.sign.signers.pdf_signer import (
    DSSContentSettings,
    SigDSSPlacementPreference,
    TimestampDSSContentSettings,
)
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import DocumentSecurityStore, collect_validation_info
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    CertificateFetchError,
    CRLFetchError,
    InsufficientRevinfoError,
    OCSPFetchError,
    PathBuildingError,
    PathValidationError,
)

from core.fonts import stamp_font_factory
from signing.appearance import (
    Appearance,
    ThaiSignatureStampStyle,
    load_handwritten_image,
)

__all__ = [
    "LEVELS",
    "PadesError",
    "SigningInputError",
    "SigningServiceUnavailable",
    "add_document_timestamp",
    "page_boxes",
    "sign_pdf",
]

Level = Literal["B-B", "B-T", "B-LT", "B-LTA"]
# (field name, 0-based page, (x1, y1, x2, y2) or None for an invisible field)
RouteField = tuple[str, int, tuple[float, float, float, float] | None]
LEVELS: tuple[str, ...] = ("B-B", "B-T", "B-LT", "B-LTA")
_TIMESTAMPED_LEVELS = ("B-T", "B-LT", "B-LTA")
_LONG_TERM_LEVELS = ("B-LT", "B-LTA")

MD_ALGORITHM = "sha256"

# Sizes (in DER bytes) used to reserve room for the CMS container. The container is
# written as hex, hence doubled at the end. Revocation data lives in the DSS, not in the
# container, so only certificates, signed attributes and timestamp tokens count here.
_SIGNED_ATTRS_AND_SIGNATURE = 6 * 1024
_TIMESTAMP_TOKEN = 12 * 1024
_DOCUMENT_TIMESTAMP = 16 * 1024


class PadesError(SigningError):
    """Base of the errors this module raises; ``permanent`` says whether a retry can help."""

    permanent: bool = True


class SigningInputError(PadesError, ValueError):
    """The request cannot succeed as given: bad PDF, box, field, level or certificate."""

    permanent = True


class SigningServiceUnavailable(PadesError):
    """A network service the level needs (TSA, OCSP, CRL) failed; retry later."""

    permanent = False


# --- inspecting the input -------------------------------------------------------------


def _open_reader(pdf: bytes) -> PdfFileReader:
    if not isinstance(pdf, bytes | bytearray) or not bytes(pdf[:1024]).lstrip().startswith(b"%PDF-"):
        raise SigningInputError("The file is not a PDF document")
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        reader.root  # noqa: B018 - force the trailer and catalog to be parsed
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise SigningInputError(f"The PDF document cannot be read: {exc}") from exc
    if reader.encrypted:
        raise SigningInputError("The PDF document is encrypted")
    return reader


def _walk_pages(node: DictionaryObject, inherited: dict, seen: set) -> Iterator[dict]:
    attrs = dict(inherited)
    for key in ("/MediaBox", "/CropBox"):
        if key in node:
            attrs[key] = node[key]
    if node.get("/Type") == "/Pages" or "/Kids" in node:
        kids: ArrayObject = node["/Kids"]
        for kid in kids:
            # A page tree that loops back on itself is malformed, not infinitely long.
            key = (kid.idnum, kid.generation) if isinstance(kid, IndirectObject) else id(kid)
            if key in seen:
                raise SigningInputError("The PDF page tree contains a loop")
            seen.add(key)
            yield from _walk_pages(kid.get_object(), attrs, seen)
    else:
        yield attrs


def _page_rects(reader: PdfFileReader) -> list[tuple[float, float, float, float]]:
    rects = []
    for attrs in _walk_pages(reader.root["/Pages"], {}, set()):
        raw = attrs.get("/CropBox", attrs.get("/MediaBox"))
        if raw is None:
            raise SigningInputError("A page of the PDF document has no MediaBox")
        x1, y1, x2, y2 = (float(v) for v in raw)
        rects.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return rects


def page_boxes(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in PDF points of each page's visible area (CropBox, else MediaBox).

    Sizes are in the page's unrotated user space, which is the space signature boxes
    are given in.
    """
    try:
        rects = _page_rects(_open_reader(pdf))
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SigningInputError):
            raise
        raise SigningInputError(f"The PDF page tree cannot be read: {exc}") from exc
    return [(x2 - x1, y2 - y1) for x1, y1, x2, y2 in rects]


def _check_box(
    *,
    reader: PdfFileReader,
    page: int,
    box: tuple[float, float, float, float] | None,
) -> None:
    rects = _page_rects(reader)
    if not 0 <= page < len(rects):
        raise SigningInputError(f"Page {page} is out of range: the document has {len(rects)} page(s)")
    if box is None:
        return
    if len(box) != 4:
        raise SigningInputError("The signature box must be (x1, y1, x2, y2)")
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        raise SigningInputError("The signature box must have x1 < x2 and y1 < y2")
    px1, py1, px2, py2 = rects[page]
    if x1 < px1 or y1 < py1 or x2 > px2 or y2 > py2:
        raise SigningInputError(
            f"The signature box {tuple(box)} lies outside page {page} ({px1:g}, {py1:g}, {px2:g}, {py2:g})"
        )


def _is_certified(reader: PdfFileReader) -> bool:
    try:
        return "/DocMDP" in reader.root.get("/Perms", {})
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise SigningInputError(f"The PDF document cannot be read: {exc}") from exc


def _has_signatures(reader: PdfFileReader) -> bool:
    return any(True for _ in enumerate_sig_fields(reader, filled_status=True))


def _own_lock(field_name: str) -> FieldMDPSpec:
    return FieldMDPSpec(action=FieldMDPAction.INCLUDE, fields=[field_name])


def _check_route_fields(*, reader: PdfFileReader, field_name: str, route_fields) -> list[RouteField]:
    checked: list[RouteField] = []
    names: set[str] = set()
    for name, page, box in route_fields:
        if not name or "." in name or name in names:
            raise SigningInputError(f"The route's signature field names must be distinct, without dots: {name!r}")
        names.add(name)
        _check_box(reader=reader, page=page, box=box)
        checked.append((name, page, tuple(box) if box is not None else None))
    if field_name not in names:
        raise SigningInputError(f"Signature field {field_name!r} is not one of the route's fields")
    return checked


def _field_exists(*, reader: PdfFileReader, field_name: str) -> bool:
    found = False
    for _name, value, _ref in enumerate_sig_fields(reader, with_name=field_name):
        if value is not None:
            raise SigningInputError(f"Signature field {field_name!r} is already signed")
        found = True
    return found


# --- classifying failures -------------------------------------------------------------

_TRANSIENT = (
    TimestampRequestError,
    OCSPFetchError,
    CRLFetchError,
    CertificateFetchError,
    requests.RequestException,
    aiohttp.ClientError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    socket.gaierror,
)

_PERMANENT = (
    SigningError,
    PdfError,
    LayoutError,
    PathValidationError,
    PathBuildingError,
    ValueError,
    KeyError,
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it was raised from, and exceptions pyHanko passes as args."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(
            e for e in (current.__cause__, current.__context__, *current.args) if isinstance(e, BaseException)
        )


def _fetch_failures(validation_context: ValidationContext | None) -> list[Exception]:
    if validation_context is None:
        return []
    return list(validation_context.soft_fail_exceptions)


def _classify(exc: BaseException, *, validation_context: ValidationContext | None) -> PadesError | None:
    """Map a failure to the typed error to raise, or None to let it propagate."""
    if isinstance(exc, PadesError):
        return exc
    causes = list(_causes(exc))
    transient = next((c for c in causes if isinstance(c, _TRANSIENT)), None)
    # When an OCSP/CRL server is down, pyHanko's validator reports "insufficient
    # revocation information" and keeps the network error only as text. With fetching
    # allowed, that can only mean the data could not be fetched (a certificate with no
    # revocation pointers at all is not checked), so it is a service problem. Without
    # fetching it is the caller's missing data: permanent.
    if transient is None:
        revinfo_error = next((c for c in causes if isinstance(c, InsufficientRevinfoError)), None)
        fetched = validation_context is not None and validation_context.fetching_allowed
        if revinfo_error is not None and (fetched or _fetch_failures(validation_context)):
            transient = revinfo_error
    if transient is not None:
        error = SigningServiceUnavailable(f"A signing service is unavailable ({type(transient).__name__}: {transient})")
        error.__cause__ = exc
        return error
    if isinstance(exc, _PERMANENT):
        error = SigningInputError(str(exc) or type(exc).__name__)
        error.__cause__ = exc
        return error
    return None


def _raise_classified(exc: BaseException, *, validation_context: ValidationContext | None) -> None:
    classified = _classify(exc, validation_context=validation_context)
    if classified is None:
        raise exc
    if classified is exc:
        raise exc
    raise classified from exc


# --- signing --------------------------------------------------------------------------


def _bytes_reserved(*, signer: Signer, level: str) -> int:
    certs = [signer.signing_cert, *signer.cert_registry]
    der = _SIGNED_ATTRS_AND_SIGNATURE + sum(len(c.dump()) for c in certs if c is not None)
    if level in _TIMESTAMPED_LEVELS:
        der += _TIMESTAMP_TOKEN
    return 2 * der


def _stamp_style(*, appearance: Appearance | None):
    if appearance is not None:
        return ThaiSignatureStampStyle(appearance=appearance)
    # A visible box without an Appearance still needs a font with Thai glyphs:
    # certificate names are often Thai.
    return TextStampStyle(
        stamp_text="%(signer)s\n%(ts)s",
        text_box_style=TextBoxStyle(font=stamp_font_factory()),
        border_width=0,
    )


def _check_level(
    *,
    level: str,
    timestamper: TimeStamper | None,
    validation_context: ValidationContext | None,
) -> None:
    if level not in LEVELS:
        raise SigningInputError(f"Unknown PAdES level {level!r}; expected one of {LEVELS}")
    if level in _TIMESTAMPED_LEVELS and timestamper is None:
        raise SigningInputError(f"PAdES {level} needs a timestamper (TSA)")
    if level in _LONG_TERM_LEVELS and validation_context is None:
        raise SigningInputError(f"PAdES {level} needs a validation context")


def _signature_metadata(
    *,
    field_name: str,
    level: str,
    validation_context: ValidationContext | None,
    reason: str | None,
    location: str | None,
    contact: str | None,
    certify: bool = False,
) -> PdfSignatureMetadata:
    long_term = level in _LONG_TERM_LEVELS
    return PdfSignatureMetadata(
        field_name=field_name,
        certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        md_algorithm=MD_ALGORITHM,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        contact_info=contact,
        validation_context=validation_context,
        embed_validation_info=long_term,
        use_pades_lta=level == "B-LTA",
        # Validation data goes into the signature's own revision (no VRI, which
        # current PAdES validators ignore anyway), so a B-LT signature is one update.
        dss_settings=DSSContentSettings(
            placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
            include_vri=False,
        ),
    )


def sign_pdf(
    *,
    pdf: bytes,
    signer: Signer,
    field_name: str,
    page: int = 0,
    box: tuple[float, float, float, float] | None = None,
    appearance: Appearance | None = None,
    level: Level = "B-B",
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    route_fields: list[RouteField] | None = None,
) -> bytes:
    """Add one PAdES signature to ``pdf`` as an incremental update and return the new bytes.

    ``box`` is ``(x1, y1, x2, y2)``: lower-left and upper-right corners in PDF points on
    ``page`` (0-based), origin bottom-left, like pyHanko's ``SigFieldSpec.box``; ``None``
    makes an invisible signature. The field is created if missing; an existing empty
    field keeps its own rectangle. ``level`` B-T and above need ``timestamper``; B-LT and
    above need ``validation_context`` (it must trust the signer's and the TSA's roots,
    and fetching must be allowed unless it already holds the revocation data). B-LTA
    also adds a document timestamp.

    ``route_fields`` (dsign's documents: every seat's field, ``field_name`` among them) locks
    the output: on a document without signatures the missing fields are created, each with a
    FieldMDP lock on itself, and the signature certifies (DocMDP P=2); on a signed document the
    field must already exist (a certified document is never given a new field).

    Raises :class:`SigningInputError` when retrying cannot help and
    :class:`SigningServiceUnavailable` when a TSA/OCSP/CRL server failed.
    """
    _check_level(level=level, timestamper=timestamper, validation_context=validation_context)
    if not field_name or "." in field_name:
        raise SigningInputError("field_name must be a non-empty name without dots")
    if appearance is not None and appearance.handwritten_png is not None:
        try:
            load_handwritten_image(appearance.handwritten_png)
        except ValueError as exc:
            raise SigningInputError(str(exc)) from exc

    reader = _open_reader(pdf)
    certify = False
    others: list[RouteField] = []
    try:
        _check_box(reader=reader, page=page, box=box)
        field_exists = _field_exists(reader=reader, field_name=field_name)
        if route_fields is not None:
            route = _check_route_fields(reader=reader, field_name=field_name, route_fields=route_fields)
            certify = not _has_signatures(reader)
            if not field_exists and not certify and _is_certified(reader):
                raise SigningInputError(
                    f"Signature field {field_name!r} is missing, and the document is certified: "
                    "no field may be added to it after its first signature"
                )
            if certify:
                others = [f for f in route if f[0] != field_name and not _field_exists(reader=reader, field_name=f[0])]
    except SigningInputError:
        raise
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise SigningInputError(f"The PDF document cannot be read: {exc}") from exc

    new_field_spec = None
    if not field_exists:
        new_field_spec = SigFieldSpec(
            sig_field_name=field_name,
            on_page=page,
            box=tuple(box) if box is not None else None,
            field_mdp_spec=_own_lock(field_name) if route_fields is not None else None,
        )
    pdf_signer = PdfSigner(
        _signature_metadata(
            field_name=field_name,
            level=level,
            validation_context=validation_context,
            reason=reason,
            location=location,
            contact=contact,
            certify=certify,
        ),
        signer,
        timestamper=timestamper,
        stamp_style=_stamp_style(appearance=appearance),
        new_field_spec=new_field_spec,
    )
    failures_before = len(_fetch_failures(validation_context))
    try:
        # The reader that checked the input is the one the update is written over: parse once.
        writer = IncrementalPdfFileWriter.from_reader(reader)
        for name, on_page, field_box in others:
            # the other seats' empty fields, in the certified revision (never added later)
            spec = SigFieldSpec(sig_field_name=name, on_page=on_page, box=field_box, field_mdp_spec=_own_lock(name))
            append_signature_field(writer, spec)
        output = io.BytesIO()
        # A signer whose key is elsewhere checks the prepared document itself (activated_signer).
        bind = getattr(signer, "bind_prepared_output", None)
        if bind is not None:
            bind(output)
        output = pdf_signer.sign_pdf(
            writer,
            bytes_reserved=_bytes_reserved(signer=signer, level=level),
            output=output,
        )
    except Exception as exc:  # noqa: BLE001 - classified or re-raised as-is
        _raise_classified(exc, validation_context=validation_context)
    failures = _fetch_failures(validation_context)[failures_before:]
    if level in _LONG_TERM_LEVELS and failures:
        # A soft-fail validation context lets pyHanko sign without revocation data;
        # that would be a B-LT in name only.
        raise SigningServiceUnavailable(f"Revocation data could not be fetched for PAdES {level}: {failures[0]}")
    return output.getvalue()


async def _collect_paths(*, reader: PdfFileReader, validation_context: ValidationContext):
    paths = []
    for embedded in reader.embedded_signatures:
        paths.extend(await collect_validation_info(embedded, validation_context))
    return paths


async def _add_document_timestamp(
    *, pdf: bytes, timestamper: TimeStamper, validation_context: ValidationContext
) -> bytes:
    try:
        return await _archive(pdf=pdf, timestamper=timestamper, validation_context=validation_context)
    finally:
        # Close the HTTP session the context opened on this event loop, as pyHanko's
        # own synchronous entry points do.
        await validation_context.aclose()


async def _archive(*, pdf: bytes, timestamper: TimeStamper, validation_context: ValidationContext) -> bytes:
    reader = _open_reader(pdf)
    if not reader.embedded_signatures:
        raise SigningInputError("The document has no signatures to archive")
    paths = await _collect_paths(reader=reader, validation_context=validation_context)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        sig_contents=None,
        paths=paths,
        validation_context=validation_context,
    )
    output = io.BytesIO()
    await PdfTimeStamper(timestamper).async_timestamp_pdf(
        writer,
        MD_ALGORITHM,
        validation_context=validation_context,
        bytes_reserved=2 * _DOCUMENT_TIMESTAMP,
        output=output,
        dss_settings=TimestampDSSContentSettings(include_vri=False),
    )
    return output.getvalue()


def add_document_timestamp(
    *,
    pdf: bytes,
    timestamper: TimeStamper,
    validation_context: ValidationContext,
) -> bytes:
    """Make the document PAdES B-LTA: validation data for every signature and timestamp
    already in it, then a document timestamp covering that data (plus, in a following
    update, the timestamp's own validation data). Calling it again later renews the
    archive chain.

    Raises like :func:`sign_pdf`.
    """
    failures_before = len(_fetch_failures(validation_context))
    try:
        result = asyncio.run(
            _add_document_timestamp(pdf=pdf, timestamper=timestamper, validation_context=validation_context)
        )
    except Exception as exc:  # noqa: BLE001 - classified or re-raised as-is
        _raise_classified(exc, validation_context=validation_context)
    failures = _fetch_failures(validation_context)[failures_before:]
    if failures:
        raise SigningServiceUnavailable(
            f"Revocation data could not be fetched for the archive timestamp: {failures[0]}"
        )
    return result
