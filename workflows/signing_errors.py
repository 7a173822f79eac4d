"""Why a signature failed, in Thai, for the seat, the document page, the API and the notifications.

Signing reports failures by a stable code (SigningJob.error_code) and an English sentence; the people
who must act on them (the signer, the IT admins) read Thai.
"""

from __future__ import annotations

__all__ = ["FAILURE_TEXT", "failure_text"]

FAILURE_TEXT: dict[str, str] = {
    "route_ended": "เอกสารสิ้นสุดเส้นทางแล้ว (เรียกคืน ยกเลิก ไม่อนุมัติ หรือส่งกลับ) จึงไม่ลงลายมือชื่อ",
    "decision_withdrawn": "การอนุมัติที่ลายมือชื่อนี้อ้างถึงถูกยกเลิกแล้ว",
    "route_changed": "เส้นทางเริ่มรอบใหม่หลังการอนุมัติ ต้องอนุมัติใหม่",
    "version_unknown": "การอนุมัติไม่ได้บันทึกฉบับของเอกสารที่ผู้ลงนามเห็น กรุณาอนุมัติใหม่",
    "version_changed": "เอกสารถูกเปลี่ยนหลังจากที่ท่านอนุมัติ กรุณาตรวจเอกสารฉบับปัจจุบันและอนุมัติใหม่",
    "level_not_reached": "ลายมือชื่อไม่ถึงระดับ PAdES ที่แม่แบบกำหนด (ใบรับรองไม่มีข้อมูลการเพิกถอน CRL/OCSP) กรุณาติดต่อเจ้าหน้าที่ CA",
    "certificate_not_usable": "ใบรับรองของผู้ลงนามใช้ลงนามไม่ได้ (หมดอายุ ถูกเพิกถอน หรือยังไม่ได้ยอมรับ) กรุณาติดต่อเจ้าหน้าที่ CA",
    "key_missing": "ไม่พบกุญแจส่วนตัวของผู้ลงนามใน HSM กรุณาติดต่อเจ้าหน้าที่ CA",
    "bad_input": "ไฟล์เอกสารลงลายมือชื่อไม่ได้",
}
GENERIC = "ลงลายมือชื่อไม่สำเร็จ"


def failure_text(*, code: str, message: str) -> str:
    """The Thai reason for `code`, with signing's English detail after it for the administrators (and for
    clients that look for "failed" in a document's waiting reason, e.g. bench.flow)."""
    thai = FAILURE_TEXT.get(code, GENERIC)
    return f"{thai} (signing failed: {message})" if message else thai
