"""What every part of the in-process analysis shares: the exceptions parsing hostile data raises and the
problem list of a signature, timestamp or document result (`(code, detail)` pairs, one per code)."""

from pyhanko.pdf_utils.misc import PdfError

__all__ = ["PARSE_ERRORS", "add", "codes", "short"]

# What parsing hostile PDF/CMS data raises (pyHanko, asn1crypto): judged as a format failure.
# Anything else escapes to the worker, which turns it into an indeterminate report.
PARSE_ERRORS = (
    PdfError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    AssertionError,
    ArithmeticError,
    NotImplementedError,
)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def add(result: dict, code: str, detail: str = "") -> None:
    # one sentence per kind of problem: the first detail is the telling one
    if code not in codes(result):
        result["_problems"].append((code, detail))


def codes(result: dict) -> list[str]:
    return [code for code, _ in result["_problems"]]
