"""A CSV cell over the csv module's field limit (131,072 characters) (verifier VH, F4).

The csv module stops at such a cell with "field larger than field limit (131072)": the night said
FILE_UNREADABLE "broken CSV ... Export it again from the source system", which gives the same
file, and read no identity, so the file counted as quarantined for no pilot, though scoring.md §6
counts a quarantined file for the (pilot, agency, period) of its first data row when all three
can be read. Now it is CELL_TOO_LONG on the cell's row and column (pilots/readers/csv_long_cell.py),
and the identity comes from the first data row, also when the long cell is on that row.

The scenario and its registry are tests/test_flow.py's; tests/hostile.py's clean night scores it.
"""
from __future__ import annotations

from datetime import date

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
LONG = "ก" * 131_073  # one character over the limit


def _too_long(column: str) -> tuple:
    return (f"The cell in column '{column}' holds more than 131,072 characters, more than a CSV cell may hold. "
            "Shorten it, or close the quote (\") that opens it, and send the file again.",
            f"ช่องในคอลัมน์ '{column}' มีข้อความยาวเกิน 131,072 ตัวอักษร ซึ่งเกินกว่าที่ช่องในไฟล์ CSV จะรับได้ "
            "กรุณาตัดข้อความให้สั้นลง หรือปิดเครื่องหมายอัญประกาศ (\") ที่เปิดไว้ต้นช่อง แล้วส่งไฟล์อีกครั้ง")


def test_a_cell_over_the_limit_is_named_and_the_file_counts_for_its_pilot(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # Q1: a long note on the second data line (row 3).
    (inbox / "a_q1.csv").write_bytes(("\n".join([
        HEADER, f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
        f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,{LONG}"]) + "\n").encode("utf-8"))
    # Q2: Thai headers; a quote opened in the first line's note and never closed runs the rest
    # of the file into that cell (row 2, column หมายเหตุ).
    thai = ("รหัสโครงการ,รหัสหน่วยงาน,งวดรายงาน,วันที่ส่ง,ประเภทรายการ,รหัสรายการ,ชั้น,ผลการดำเนินงาน,"
            "งบจัดสรร,เบิกจ่าย,แหล่งงบประมาณ,หมายเหตุ")
    rest = "\n".join(f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,ส่งตรงเวลา {i}" for i in range(3000))
    (inbox / "b_q2.csv").write_bytes((f"{thai}\n{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,\"ล่าช้า\n{rest}\n")
                                     .encode("utf-8"))
    assert len(rest) > 131_072
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 0, superseded 0, duplicates 0, quarantined 2" in out
    assert issues_of(wh, "a_q1.csv") == [(3, "note", "CELL_TOO_LONG", *_too_long("note"))]
    assert issues_of(wh, "b_q2.csv") == [(2, "note", "CELL_TOO_LONG", *_too_long("หมายเหตุ"))]
    # Each counts as quarantined for its (pilot, agency, period): scoring.md §6.
    assert query(wh, "SELECT file_name, pilot_id, agency_code, period, submitted_on FROM ingest.submissions ORDER BY 1") == [
        ("a_q1.csv", P, "03009", "2548-Q1", date(2005, 1, 20)), ("b_q2.csv", P, "03009", "2548-Q2", date(2005, 4, 20))]
    assert query(wh, "SELECT period, submitted, quarantined FROM marts.reporting_compliance "
                     "WHERE agency_code = '03009' ORDER BY 1") == [("2548-Q1", False, 1), ("2548-Q2", False, 1)]

    # Night 2: the notes cut short (the limit itself is a cell that may be sent), as the message said.
    clean_night(registry, inbox, tmp_path, {
        "c_q1.csv": ("\n".join([HEADER, f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,{LONG[1:]}"]) + "\n").encode("utf-8"),
        "d_q2.csv": ("\n".join([HEADER, f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,ล่าช้า",
                                f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,"]) + "\n").encode("utf-8")})
    assert query(wh, "SELECT length(note) FROM core.kpi_actuals WHERE period = '2548-Q1' AND kpi_code = 'K2'") == [(131_072,)]


def test_the_scan_is_the_csv_modules_reading():
    """The record scanner agrees with the csv module on quoted cells, doubled quotes, text after a
    closing quote, and a cell that is not the long one; and names a cell by position without a header."""
    import csv
    import io

    from pilots.readers import ReadFailure, read_report
    from pilots.readers.csv_long_cell import _record_at

    for line in ['"q""1",x"y"z,"p"q,,"",' + '"a\r\nb",c', 'a;b\t"c;d";"e""";f', '"open\nrest,of',
                 '"x""""y""",z', '"""""""",a', '"a"""b"c,d', '"""""""']:
        for sep in ",;":
            expected = next(csv.reader(io.StringIO(line, newline=""), delimiter=sep))
            assert _record_at(line, 0, sep, 10**9, 99) == (expected, None), (line, sep)
    long = "x" * 131_073
    data = f'a,b,c\n"q""1",x"y"z,"p"q\n"1,2",{long},3\n'.encode()
    try:
        read_report("r.csv", data)
    except ReadFailure as failure:
        assert (failure.issue.row_number, failure.issue.column_name) == (3, None)
        assert "The cell in column 'b' holds" in failure.issue.message_en
    else:
        raise AssertionError("read")
    try:
        read_report("r.csv", f"a,{long}\n".encode())
    except ReadFailure as failure:
        assert failure.issue.row_number == 1 and "The cell 2 of the row holds" in failure.issue.message_en
        assert failure.identity == {}
    else:
        raise AssertionError("read")


def test_a_long_cell_of_doubled_quotes_is_named_within_bounded_memory(monkeypatch):
    """A file at the byte limit whose long cell is doubled quotes ("" x 10 million: each is one
    quote of text) (reviewer RV9 item 1): the scanner held a span per quote and took 2.5 GB and
    5 s; it now keeps a running length. Measured with tracemalloc around the scanner's own call
    (the decoding and the csv module before it are the reader's, bounded by the file size)."""
    import tracemalloc

    from pilots.readers import ReadFailure, csv_reader, read_report
    from pilots.readers.limits import LIMITS

    head = ("pilot_id,agency_code,period,submitted_on,item_code,actual,note\n"
            f"{P},03009,2549-Q3,2006-10-01,K1,1,").encode()
    pairs = (LIMITS.max_file_bytes - len(head) - 3) // 2
    data = head + b'"' + b'""' * pairs + b'"\n'
    assert LIMITS.max_file_bytes - 2 <= len(data) <= LIMITS.max_file_bytes  # 20 MB, read (not FILE_TOO_LARGE)
    peaks = []
    scan = csv_reader._cell_too_long

    def measured(*args):
        tracemalloc.start()
        try:
            return scan(*args)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(csv_reader, "_cell_too_long", measured)
    try:
        read_report("r.csv", data)
    except ReadFailure as failure:
        issue = failure.issue
        assert (issue.code, issue.row_number, issue.column_name) == ("CELL_TOO_LONG", 2, "note")
        assert issue.message_en == _too_long("note")[0]
        assert failure.identity == {"pilot_id": P, "agency_code": "03009", "period": "2549-Q3",
                                    "submitted_on": "2006-10-01"}
    else:
        raise AssertionError("read")
    # A cell within the limit is at most 131,072 characters (0.5 MB); the old scan held gigabytes
    # (and a copy of the text, four bytes a character: 80 MB). The bound is the file's size.
    assert len(peaks) == 1 and peaks[0] < len(data), peaks
