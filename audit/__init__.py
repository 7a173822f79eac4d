"""The audit log. Other apps call `audit.record(actor=..., action=..., target=...)`."""


def record(**kwargs):
    from .services import record as _record

    return _record(**kwargs)
