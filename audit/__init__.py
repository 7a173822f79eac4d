"""The audit log. Other apps call `audit.record(actor=..., action=..., target=...)`."""


def record(**kwargs):
    from .services import record as _record

    return _record(**kwargs)


def together():
    from .services import together as _together

    return _together()
