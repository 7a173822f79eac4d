"""The bottom package: what every dsign app needs and no app owns.

No Django models and no imports of any dsign app (import-linter holds this, see `.importlinter`):
file storage with its SHA-256 promise (`storage`), Thai dates (`thai`), the Thai fonts (`fonts`),
the PKCS#11 token (`hsm`, the only module that imports ``pkcs11``), the TSA client (`tsa`), which
answers of outgoing HTTP are retried (`http`) and how long to wait (`backoff`), the domain error base
(`errors.DomainError`) and role checks (`roles.has_role`, the role names).
"""
