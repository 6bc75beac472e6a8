"""The reader micro-benchmark, a part of the national benchmark (bench/run.py): the same
20-line report as CSV and as XLSX, read and normalised, per file and as a ratio.
"""
from __future__ import annotations

import io
import time

import openpyxl

from pilots.normalise import normalise_table
from pilots.readers import read_report

HEADER = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
          "allocated_thb", "disbursed_thb", "funding_source", "note"]
ROWS = [["PLT-2548-003", "03009", "2548-Q1", "2005-01-20", "budget", f"ACT-{i:02d}", "5", "",
         "1250000.00", "200000.00", "own", "หมายเหตุ"] for i in range(20)]


def csv_bytes() -> bytes:
    return ("\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n").encode("utf-8")


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    for r in [HEADER, *ROWS]:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def per_file_seconds(name: str, data: bytes, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        normalise_table(read_report(name, data))
    return (time.perf_counter() - start) / n


def measure(n: int = 300) -> dict:
    csv_data, xlsx_data = csv_bytes(), xlsx_bytes()
    per_file_seconds("r.csv", csv_data, 10), per_file_seconds("r.xlsx", xlsx_data, 10)  # warm up
    csv_s = per_file_seconds("r.csv", csv_data, n)
    xlsx_s = per_file_seconds("r.xlsx", xlsx_data, n)
    return {"runs": n, "csv_ms_per_file": round(csv_s * 1000, 3), "xlsx_ms_per_file": round(xlsx_s * 1000, 3),
            "xlsx_over_csv": round(xlsx_s / csv_s, 2)}


def main(n: int = 300) -> None:
    m = measure(n)
    print(f"read+normalise one 20-line report, {n} times each:")
    print(f"  csv : {m['csv_ms_per_file']:.2f} ms/file")
    print(f"  xlsx: {m['xlsx_ms_per_file']:.2f} ms/file")
    print(f"  xlsx/csv ratio: {m['xlsx_over_csv']:.1f}x")


if __name__ == "__main__":
    main()
