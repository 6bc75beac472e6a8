"""Every given → expected case in kpis/<mart>.yml, and the YAML docs match the marts built."""
from __future__ import annotations

from datetime import date

import pytest

from kpis.build import MART_NAMES, build_marts
from kpis.cases import mart_doc, run_case
from warehouse.db import connect

CASES = [(name, case) for name in MART_NAMES for case in mart_doc(name).get("cases", [])]


@pytest.mark.parametrize(("mart", "case"), CASES, ids=[f"{m}:{c['name']}" for m, c in CASES])
def test_yaml_case(mart, case):
    con = connect(":memory:")
    try:
        actual, expected = run_case(con, mart, case)
    finally:
        con.close()
    assert actual == expected


def test_every_mart_has_cases_and_documents_every_column_with_its_type():
    con = connect(":memory:")
    build_marts(con, date(2005, 1, 31))
    for name in MART_NAMES:
        doc = mart_doc(name)
        assert doc["name"] == name and doc["description"] and doc.get("cases"), name
        built = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position", [name]).fetchall()
        assert [(c["name"], c["type"]) for c in doc["columns"]] == built, name
        assert all(c["description"] for c in doc["columns"]), name
    con.close()
