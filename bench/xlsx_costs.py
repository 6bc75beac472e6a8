"""The Excel reader before and after a change: a large report, the same with percentage cells, and
the shared-strings bomb of issue 24 item 9, each read by `pilots.readers.read_report` in its own
Python process (time and peak memory), for the current tree and the tree at `--base`.

    python -m bench.xlsx_costs [--base main] [--lines 20000] [--rounds 2] [--bomb-mb 122] [--styles 1000000]

- `plain`: `--lines` report lines of 12 columns (kpi and budget lines, a Thai note on each), no
  percentage format anywhere: the reader's usual path.
- `percent`: the same, with every kpi line's actual typed as a percentage (0.575 in a `0.0%` cell):
  the path that looks at number formats.
- `bomb`: a report of four lines plus a shared-strings table of about `--bomb-mb` MB (distinct
  strings of ~300 bytes), which compresses well enough to pass the file-size, inflated-size, ratio
  and part bounds. The current tree refuses it (FILE_TOO_LARGE); before, openpyxl loaded it whole.
- `styles`: a report of four lines whose styles part holds `--styles` more cell formats (<xf/>),
  with 1 MB of random bytes in a member of their own, so that it passes the file-size, ratio and
  part bounds. Refused since the styles bound; before, openpyxl parsed them all when it opened.
"""
from __future__ import annotations

import argparse
import io
import random
import tempfile
import zipfile
from pathlib import Path

import openpyxl

from bench.paired import ROOT, run_in, tree_at

HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
          "allocated_thb", "disbursed_thb", "funding_source", "note"]
NOTE = "ดำเนินการตามแผนงานประจำไตรมาส ติดตามผลโดยคณะทำงานของหน่วยงาน"

# CPU time (process_time), not wall time: the machine is shared, and CPU time moves less with
# the load. Peak memory is the process's high-water mark (VmHWM), which exec resets.
CHILD = r"""
import json, sys, time
from pilots.readers import ReadFailure, read_report
data = open(sys.argv[1], "rb").read()
start, wall = time.process_time(), time.perf_counter()
try:
    table = read_report("r.xlsx", data)
    outcome = f"read {len(table.rows)} rows"
except ReadFailure as failure:
    outcome = f"{failure.issue.code}: {failure.issue.message_en}"
cpu, wall = time.process_time() - start, time.perf_counter() - wall
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": cpu, "wall": wall, "peak_mb": hwm / 1024, "outcome": outcome}))
"""


def report(lines: int, percent: bool) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(HEADER)
    for n in range(lines):
        if n % 4 == 0:
            sheet.append(["PLT-2548-003", "03009", "2548-Q1", "2005-01-20", "kpi", f"K{n}", None,
                          0.575 if percent else 57.5, None, None, None, NOTE])
            if percent:
                sheet.cell(row=sheet.max_row, column=8).number_format = "0.0%"
        else:
            sheet.append(["PLT-2548-003", "03009", "2548-Q1", "2005-01-20", "budget", f"ACT-{n}", 3, None,
                          1_000_000 + n, 250_000, "own", NOTE])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rewritten(data: bytes, edit, add: dict[str, bytes]) -> bytes:
    """The workbook with each member's bytes passed through edit(name, content), and `add` added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(info.filename, src.read(info)))
        for name, content in add.items():
            dst.writestr(name, content)
    return out.getvalue()


def bomb(megabytes: int) -> bytes:
    entry = ("<si><t>%d " + NOTE * 3 + "</t></si>").encode()
    count = megabytes * 1_000_000 // len(entry % 0)
    declared = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    return _rewritten(report(4, percent=False),
                      lambda name, content: content.replace(b"</Types>", declared) if name == "[Content_Types].xml" else content,
                      {"xl/sharedStrings.xml": b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                       + b"".join(entry % i for i in range(count)) + b"</sst>"})


def styles_bomb(entries: int) -> bytes:
    def edit(name: str, content: bytes) -> bytes:
        if name != "xl/styles.xml":
            return content
        at = content.index(b">", content.index(b"<cellXfs")) + 1
        return content[:at] + b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' * entries + content[at:]
    return _rewritten(report(4, percent=False), edit, {"xl/media/image1.bin": random.Random(7).randbytes(1_000_000)})


def _measure(tree: Path, workbook: Path) -> dict:
    return run_in(tree, CHILD, workbook)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bomb-mb", type=int, default=122)
    parser.add_argument("--styles", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        books = {"plain": report(args.lines, False), "percent": report(args.lines, True), "bomb": bomb(args.bomb_mb),
                 "styles": styles_bomb(args.styles)}
        for name, data in books.items():
            (tmp_path / f"{name}.xlsx").write_bytes(data)
            inflated = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
            print(f"{name}: {len(data):,} bytes, {inflated:,} inflated")
        trees = {"now": ROOT, args.base: tree_at(args.base, tmp_path / "base")}
        best: dict[tuple[str, str], float] = {}
        for rnd in range(args.rounds):
            for name in books:
                order = list(trees.items()) if rnd % 2 == 0 else list(trees.items())[::-1]  # alternate who goes first
                for label, tree in order:
                    r = _measure(tree, tmp_path / f"{name}.xlsx")
                    best[(name, label)] = min(r["seconds"], best.get((name, label), float("inf")))
                    print(f"round {rnd + 1} {name:8} {label:6} cpu {r['seconds']:7.2f} s  wall {r['wall']:7.2f} s  "
                          f"peak {r['peak_mb']:6.0f} MB  {r['outcome'][:100]}")
        for (name, label), seconds in sorted(best.items()):
            print(f"best cpu {name:8} {label:6} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
