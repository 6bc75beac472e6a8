"""Agency text in the web's table downloads (CSV and XLSX) is shown as on the page: a bidi override
or a control character in a file name or a note is a visible stand-in, never the raw character
that reorders (or breaks) what a spreadsheet shows (web/tables.py). Through a real upload, send,
night and download."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.support import SERIAL
from tests.web.conftest import report, verdict
from tests.web.test_web_journey import night

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "invoice-\u202excod.csv" reads "invoice-csv.docx"
UPLOADED = f"dbd-{RLO}3q-9452.csv"
NOTE = f"ok{RLO}evil\x1b[31m"
RAW = (RLO, "\x1b")


def xlsx_texts(data: bytes) -> list[str]:
    ws = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]


@SERIAL  # a whole night (tests/support.py: such files start first)
def test_bidi_and_escape_characters_are_visible_in_every_download(client_for, site_dir):
    agency = client_for("demo-agency")
    checked = agency.upload(UPLOADED, report(note=NOTE))
    assert verdict(checked.text) == "new"
    assert agency.send(checked.text).status_code == 303
    night(site_dir)

    listing = agency.get("/submissions")
    sha = re.search(r'<tr data-sha256="([0-9a-f]{64})" data-status="accepted">\s*<td class="agency-text">dbd-\[U\+202E\]',
                    listing.text).group(1)
    page = agency.get(f"/submissions/{sha}").text
    lines = re.search(r'href="\?download=(lines-\d+)\.csv"', page).group(1)
    downloads = {
        "submissions.csv": agency.get("/submissions?download=submissions.csv").content.decode("utf-8-sig"),
        "submissions.xlsx": xlsx_texts(agency.get("/submissions?download=submissions.xlsx").content),
        f"{lines}.csv": agency.get(f"/submissions/{sha}?download={lines}.csv").content.decode("utf-8-sig"),
        f"{lines}.xlsx": xlsx_texts(agency.get(f"/submissions/{sha}?download={lines}.xlsx").content),
    }
    for name, content in downloads.items():
        text = content if isinstance(content, str) else "\n".join(content)
        assert not [c for c in RAW if c in text], f"{name} holds a raw bidi or escape character"
    # The same stand-ins as the page: the name in the lists, the note in the lines.
    assert "dbd-[U+202E]3q-9452.csv" in downloads["submissions.csv"]
    assert "dbd-[U+202E]3q-9452.csv" in downloads["submissions.xlsx"]
    assert "ok[U+202E]evil\u241b[31m" in downloads[f"{lines}.csv"]
    assert "ok[U+202E]evil\u241b[31m" in downloads[f"{lines}.xlsx"]
    assert "ok[U+202E]evil\u241b[31m" in page
