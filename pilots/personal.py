"""Personal data: 13-digit Thai national ID numbers with a valid check digit are masked in
every text that reaches the warehouse or a summary, defect messages included."""
from __future__ import annotations

import re

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
NATIONAL_ID = re.compile(r"(?<![\d])\d(?:[- ]?\d){12}(?![\d])")
MASK = "[masked-id]"


def valid_national_id(digits: str) -> bool:
    if len(digits) != 13:
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def mask_national_ids(text: str) -> tuple[str, bool]:
    """Mask every 13-digit national ID with a valid check digit; invalid ones are left alone."""
    found = False

    def repl(m: re.Match[str]) -> str:
        nonlocal found
        digits = re.sub(r"[- ]", "", m.group(0))
        if valid_national_id(digits):
            found = True
            return MASK
        return m.group(0)

    masked = NATIONAL_ID.sub(repl, text.translate(THAI_DIGITS) if re.search("[๐-๙]", text) else text)
    return (masked, True) if found else (text, False)
