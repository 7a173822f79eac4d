"""The catalogue of verification problems, in words a clerk understands (English and Thai).

Verification code refers to problems by a stable code; `problem_text` renders one in the requested
language. Codes are also returned in reports (`problem_codes`) so other callers can react to them
without parsing sentences.
"""

__all__ = ["LANGUAGES", "MESSAGES", "problem_text"]

LANGUAGES = ("en", "th")

MESSAGES: dict[str, dict[str, str]] = {
    "no_signatures": {
        "en": "The document has no signatures.",
        "th": "เอกสารนี้ไม่มีลายมือชื่ออิเล็กทรอนิกส์",
    },
    "not_intact": {
        "en": "The signed content was altered: this signature no longer matches the document.",
        "th": "เนื้อหาที่ลงลายมือชื่อไว้ถูกแก้ไข ลายมือชื่อนี้ไม่ตรงกับเอกสารอีกต่อไป",
    },
    "crypto_invalid": {
        "en": "The signature itself is broken (its cryptographic check failed).",
        "th": "ลายมือชื่อเสียหาย (การตรวจสอบทางคณิตศาสตร์ไม่ผ่าน)",
    },
    "untrusted": {
        "en": "The signer's certificate was not issued by a trusted certification authority.",
        "th": "ใบรับรองของผู้ลงนามไม่ได้ออกโดยผู้ให้บริการออกใบรับรองที่เชื่อถือ",
    },
    "expired": {
        "en": "The signer's certificate had expired or was not yet valid when checked.",
        "th": "ใบรับรองของผู้ลงนามหมดอายุหรือยังไม่มีผลในเวลาที่ตรวจสอบ",
    },
    "revoked": {
        "en": "The signer's certificate has been revoked (cancelled) by its issuer.",
        "th": "ใบรับรองของผู้ลงนามถูกเพิกถอนโดยผู้ออกใบรับรอง",
    },
    "key_usage": {
        "en": "The signer's certificate is not meant for signing documents.",
        "th": "ใบรับรองของผู้ลงนามไม่ได้มีไว้สำหรับลงลายมือชื่อในเอกสาร",
    },
    "weak_algorithm": {
        "en": "The signature uses an outdated, insecure algorithm ({detail}).",
        "th": "ลายมือชื่อใช้อัลกอริทึมที่ล้าสมัยและไม่ปลอดภัย ({detail})",
    },
    "coverage_partial": {
        "en": "The signature does not cover the whole document; parts of the file could have been "
        "added or changed without being detected.",
        "th": "ลายมือชื่อไม่ครอบคลุมเอกสารทั้งฉบับ ส่วนหนึ่งของไฟล์อาจถูกเพิ่มหรือแก้ไขโดยตรวจไม่พบ",
    },
    "trailing_data": {
        "en": "Unsigned data was appended to the end of the file after it was signed.",
        "th": "มีข้อมูลที่ไม่ได้ลงลายมือชื่อต่อท้ายไฟล์หลังจากลงลายมือชื่อแล้ว",
    },
    "modified_other": {
        "en": "The document was changed after this signature was made (a page was added or "
        "removed, or content was altered).",
        "th": "เอกสารถูกแก้ไขหลังจากลงลายมือชื่อนี้ (มีการเพิ่มหรือลบหน้า หรือแก้ไขเนื้อหา)",
    },
    "modified_annotations": {
        "en": "Comments or annotations were added to the document after this signature was made.",
        "th": "มีการเพิ่มความคิดเห็นหรือหมายเหตุลงในเอกสารหลังจากลงลายมือชื่อนี้",
    },
    "form_fields_changed": {
        "en": "Form field values were filled in or changed after this signature was made: {detail}.",
        "th": "มีการกรอกหรือเปลี่ยนค่าในช่องแบบฟอร์มหลังจากลงลายมือชื่อนี้: {detail}",
    },
    "attachments_added": {
        "en": "Files were attached after this signature was made (not covered by it): {detail}.",
        "th": "มีการแนบไฟล์หลังจากลงลายมือชื่อนี้ (ไฟล์แนบไม่อยู่ในขอบเขตของลายมือชื่อ): {detail}",
    },
    "modifications_unknown": {
        "en": "The changes made after this signature could not be analysed.",
        "th": "ไม่สามารถวิเคราะห์การแก้ไขที่เกิดขึ้นหลังจากลงลายมือชื่อนี้ได้",
    },
    "docmdp_violation": {
        "en": "The author certified this document and restricted further changes, but later "
        "changes break that restriction.",
        "th": "ผู้จัดทำได้รับรองเอกสารนี้และจำกัดการแก้ไขไว้ แต่มีการแก้ไขที่ขัดต่อข้อจำกัดนั้น",
    },
    "seed_value": {
        "en": "The signature does not meet the requirements set by the signature field.",
        "th": "ลายมือชื่อไม่เป็นไปตามข้อกำหนดของช่องลงลายมือชื่อ",
    },
    "format_failure": {
        "en": "The signature data is damaged or in a form that cannot be checked ({detail}).",
        "th": "ข้อมูลลายมือชื่อเสียหายหรืออยู่ในรูปแบบที่ตรวจสอบไม่ได้ ({detail})",
    },
    "not_baseline": {
        "en": "The signature is not in the standard PAdES form ({detail}).",
        "th": "ลายมือชื่อไม่อยู่ในรูปแบบมาตรฐาน PAdES ({detail})",
    },
    "timestamp_invalid": {
        "en": "The signature's timestamp could not be verified.",
        "th": "ไม่สามารถตรวจสอบการประทับเวลาของลายมือชื่อได้",
    },
    "timestamp_untrusted": {
        "en": "The signature's timestamp does not come from a trusted time-stamping authority.",
        "th": "การประทับเวลาของลายมือชื่อไม่ได้มาจากผู้ให้บริการประทับเวลาที่เชื่อถือ",
    },
    "doc_timestamp_invalid": {
        "en": "The document timestamp ({detail}) is damaged or does not match the document.",
        "th": "การประทับเวลาเอกสาร ({detail}) เสียหายหรือไม่ตรงกับเอกสาร",
    },
    "doc_timestamp_untrusted": {
        "en": "The document timestamp ({detail}) does not come from a trusted time-stamping authority.",
        "th": "การประทับเวลาเอกสาร ({detail}) ไม่ได้มาจากผู้ให้บริการประทับเวลาที่เชื่อถือ",
    },
    "changed_after_last": {
        "en": "The document was changed after the last signature or timestamp in a way that is not allowed.",
        "th": "เอกสารถูกแก้ไขหลังจากลายมือชื่อหรือการประทับเวลาครั้งสุดท้ายในลักษณะที่ไม่อนุญาต",
    },
    "signature_problem": {
        "en": 'Signature "{detail}" is not valid.',
        "th": 'ลายมือชื่อ "{detail}" ไม่ถูกต้อง',
    },
    "damaged_document": {
        "en": "The document's internal structure is damaged ({detail}); its signatures cannot be checked.",
        "th": "โครงสร้างภายในของเอกสารเสียหาย ({detail}) จึงไม่สามารถตรวจสอบลายมือชื่อได้",
    },
    "encrypted": {
        "en": "The document is encrypted; supply the password.",
        "th": "เอกสารถูกเข้ารหัส กรุณาระบุรหัสผ่าน",
    },
    "unreadable": {
        "en": "The file cannot be read as a PDF document ({detail}).",
        "th": "ไม่สามารถอ่านไฟล์นี้เป็นเอกสาร PDF ได้ ({detail})",
    },
    "too_complex": {
        "en": "The document could not be checked: it is too large or too complex to verify safely.",
        "th": "ไม่สามารถตรวจสอบเอกสารได้ เนื่องจากมีขนาดใหญ่หรือซับซ้อนเกินกว่าจะตรวจสอบได้อย่างปลอดภัย",
    },
    "timeout": {
        "en": "The document could not be checked in the time allowed.",
        "th": "ไม่สามารถตรวจสอบเอกสารได้ภายในเวลาที่กำหนด",
    },
    "internal_error": {
        "en": "The document could not be checked because the verifier failed ({detail}).",
        "th": "ไม่สามารถตรวจสอบเอกสารได้เนื่องจากระบบตรวจสอบขัดข้อง ({detail})",
    },
}


def problem_text(*, code: str, lang: str = "en", detail: str = "") -> str:
    """The sentence for `code` in `lang` (English when the language is unknown)."""
    texts = MESSAGES[code]
    template = texts.get(lang) or texts["en"]
    return template.format(detail=detail) if "{detail}" in template else template
