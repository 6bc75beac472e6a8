"""Month names in Thai and English: the one list every reader, letter and page uses.

Thai months are written in full (มกราคม) in official letters and abbreviated (ม.ค.) in tables;
agencies' files use either, and the abbreviations also without their dots (มค). English names
are spelt out here rather than taken from strftime, which follows the host's locale.
"""
from __future__ import annotations

THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
               "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")
ENGLISH_MONTHS_ABBR = tuple(name[:3] for name in ENGLISH_MONTHS)

# Every Thai spelling a reader accepts -> month number: full names, abbreviations, and the
# abbreviations without dots (ธค, มีค). Ordered by month, full name first.
THAI_MONTH_NUMBERS: dict[str, int] = {}
for _number, (_full, _abbr) in enumerate(zip(THAI_MONTHS, THAI_MONTHS_ABBR), start=1):
    THAI_MONTH_NUMBERS.update({_full: _number, _abbr: _number, _abbr.replace(".", ""): _number})
