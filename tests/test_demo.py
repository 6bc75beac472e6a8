"""The built-in demo data (pilots/demo.py): deterministic, a valid registry that covers the domain,
and an inbox that holds every special file docs/demo.md promises."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

from pilots import demo
from pilots.normalise import normalise_table
from pilots.readers import read_report
from pilots.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> demo.DemoPaths:
    return demo.write_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def pilots_yaml(paths) -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((paths.registry / "pilots").glob("*.yaml"))}


@pytest.fixture(scope="module")
def reports(paths) -> dict[str, dict]:
    """File name -> {identity fields, lines, encoding, format}, read with the project's own readers."""
    out = {}
    for path in sorted(paths.inbox.iterdir()):
        raw = read_report(path.name, path.read_bytes())
        table = normalise_table(raw)
        first = table.rows[0]
        out[path.name] = {
            "pilot_id": first["pilot_id"], "agency_code": first["agency_code"], "period": first["period"],
            "submitted_on": date.fromisoformat(first["submitted_on"]), "rows": table.rows,
            "encoding": raw.encoding, "format": raw.format, "header": raw.header, "issues": table.issues,
        }
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- determinism -----------------------------------------------------------------------------

def test_two_writes_produce_identical_bytes(tmp_path):
    a = demo.write_demo(tmp_path / "a")
    b = demo.write_demo(tmp_path / "b")
    assert a.as_of == b.as_of == date(2006, 8, 15)
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert files_a and files_a == files_b
    # Writing again into the same folder changes nothing either.
    demo.write_demo(tmp_path / "a")
    assert _files(tmp_path / "a") == files_a


def test_paths(paths):
    assert paths.registry.name == "registry" and (paths.registry / "agencies.yaml").is_file()
    assert paths.inbox.name == "inbox" and any(paths.inbox.iterdir())


# --- the registry ----------------------------------------------------------------------------

def test_registry_loads(paths):
    registry = load_registry(paths.registry)
    assert set(registry.pilots) == {p.pilot_id for p in demo.PILOTS}


def test_agency_codes_are_quoted_five_digit_strings(paths):
    text = (paths.registry / "agencies.yaml").read_text(encoding="utf-8")
    agencies = yaml.safe_load(text)
    assert all(isinstance(a["code"], str) and len(a["code"]) == 5 and a["code"].isdigit() for a in agencies)
    assert all(a["name_th"] and a["name_en"] and a["ministry"] for a in agencies)
    assert text.count('code: "') == len(agencies)
    for path in (paths.registry / "pilots").glob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "code: " in line and "role:" in line:
                assert '{code: "' in line, line
    names = {a["code"]: a["name_th"] for a in agencies}
    assert names["03009"] == "สำนักงาน ก.พ.ร." and names["15001"] == "กรมการปกครอง"
    assert names["07007"] == "กรมสรรพากร" and names["07005"] == "กรมศุลกากร"


def test_registry_covers_the_domain(pilots_yaml):
    pilots = list(pilots_yaml.values())
    kpis = [k for p in pilots for k in p["kpis"]]
    assert len(pilots) >= 6
    assert {p["layer"] for p in pilots} == {1, 2, 3, 4, 5}
    assert {1, 3, 6} <= {s for p in pilots for s in p["strategies"]}
    assert {a["role"] for p in pilots for a in p["agencies"]} == {"lead", "secondary", "supporting", "advisory"}
    assert [p["pilot_id"] for p in pilots if p["classification"] == "restricted"] == ["PLT-2548-006"]
    assert {"percent", "count", "baht", "days"} <= {k["unit"] for k in kpis}
    assert {k["direction"] for k in kpis} == {"higher", "lower"}
    assert {k["aggregation"] for k in kpis} == {"last", "sum"}


def test_registry_rules_hold(pilots_yaml):
    for pid, p in pilots_yaml.items():
        assert p["pilot_id"] == pid
        assert p["start"] == date(2004, 10, 1) and date(2006, 1, 1) <= p["end"] <= date(2006, 12, 31)
        assert [a["role"] for a in p["agencies"]].count("lead") == 1
        assert len({a["code"] for a in p["agencies"]}) == len(p["agencies"])
        assert sum(Decimal(str(k["weight"])) for k in p["kpis"]) == 100
        for k in p["kpis"]:
            assert set(k["thresholds"]) == {2548, 2549}, (pid, k["code"])
            for ts in k["thresholds"].values():
                assert len(ts) == 5
                pairs = list(zip(ts, ts[1:]))
                assert all(a < b for a, b in pairs) if k["direction"] == "higher" else all(a > b for a, b in pairs)
                if k["unit"] == "percent":
                    assert all(0 <= t <= 100 for t in ts)


def test_registry_matches_the_plan(pilots_yaml):
    # The hand-written YAML reads back to exactly the plan (no quoting or number surprises).
    for plan in demo.PILOTS:
        p = pilots_yaml[plan.pilot_id]
        assert (p["name_th"], p["name_en"], p["layer"], tuple(p["strategies"])) == (
            plan.name_th, plan.name_en, plan.layer, plan.strategies)
        assert [(a["code"], a["role"]) for a in p["agencies"]] == list(plan.agencies)
        assert [(k["code"], k["name_th"], k["name_en"], k["weight"]) for k in p["kpis"]] == [
            (k.code, k.name_th, k.name_en, k.weight) for k in plan.kpis]
        for k, kp in zip(p["kpis"], plan.kpis):
            assert {fy: [float(t) for t in ts] for fy, ts in k["thresholds"].items()} == {
                fy: [float(t) for t in ts] for fy, ts in kp.thresholds.items()}


# --- the inbox: formats and canonical values -----------------------------------------------------

def test_inbox_mixes_formats_encodings_and_separators(paths, reports):
    encodings = defaultdict(list)
    for name, r in reports.items():
        encodings[(r["format"], r["encoding"])].append(name)
    assert {("csv", "utf-8"), ("csv", "utf-8-sig"), ("csv", "cp874"), ("json", "utf-8")} <= set(encodings)
    assert len(encodings[("csv", "utf-8")]) > len(reports) / 3  # mostly plain UTF-8 CSV
    first_lines = {n: (paths.inbox / n).read_bytes().split(b"\n", 1)[0] for n in reports if n.endswith(".csv")}
    assert any(b";" in line and b"," not in line for line in first_lines.values())
    assert any(b"\t" in line for line in first_lines.values())
    assert any("รหัสโครงการ" in r["header"] for r in reports.values())


def test_cp874_files_are_not_utf8(paths, reports):
    cp874 = [n for n, r in reports.items() if r["encoding"] == "cp874"]
    assert cp874
    for name in cp874:
        data = (paths.inbox / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        text = data.decode("cp874")
        assert text.startswith("รหัสโครงการ")
        assert "ตัวชี้วัด" in text or "งบประมาณ" in text


def test_bom_files_start_with_a_bom(paths, reports):
    for name, r in reports.items():
        assert ((paths.inbox / name).read_bytes().startswith(b"\xef\xbb\xbf")) == (r["encoding"] == "utf-8-sig")


def test_json_files_have_the_documented_shape(paths, reports):
    names = [n for n in reports if n.endswith(".json")]
    assert names
    for name in names:
        doc = json.loads((paths.inbox / name).read_text(encoding="utf-8"))
        assert list(doc) == ["pilot_id", "agency_code", "period", "submitted_on", "lines"]
        assert doc["lines"] and all(isinstance(line, dict) for line in doc["lines"])


def test_values_are_canonical(paths, reports):
    for name, r in reports.items():
        text = (paths.inbox / name).read_bytes().decode(r["encoding"])
        assert r["period"] in demo.PERIODS, name
        assert f'{r["submitted_on"].isoformat()}' in text, name  # written as ISO CE
        assert date(2005, 1, 1) <= r["submitted_on"] < demo.AS_OF, name
        assert r["submitted_on"] > demo.period_bounds(r["period"])[1], name
        thai_header = "รหัสโครงการ" in r["header"]
        for row in r["rows"]:
            assert row["line_type"] in ("kpi", "budget")
            if row["line_type"] == "budget":
                assert row["funding_source"] in ("own", "lead_integrated", "support_contribution")
        # Thai line types only in files with Thai headers.
        if not thai_header:
            assert "ตัวชี้วัด" not in text and "งบประมาณ" not in text, name
    special_names = {"รายงานไตรมาส PLT-2548-007 กรมการจัดหางาน 2549-Q1.csv", "PLT-2548-002 01002 2548-Q3.csv"}
    assert special_names <= set(reports)


# --- the inbox: the story ----------------------------------------------------------------------

def _regular(reports) -> dict[str, dict]:
    """Files that should be accepted: not defective, not the duplicate copy."""
    return {n: r for n, r in reports.items() if n not in demo.DEFECTIVE and n != demo.DUPLICATE[1]}


def _plan(pid: str) -> demo.PilotPlan:
    return next(p for p in demo.PILOTS if p.pilot_id == pid)


def test_duplicate_is_byte_identical_and_sorts_after_its_original(paths):
    original, copy = demo.DUPLICATE
    assert (paths.inbox / original).read_bytes() == (paths.inbox / copy).read_bytes()
    assert original < copy  # received first, so the copy is the duplicate
    others = [p for p in paths.inbox.iterdir() if p.name not in demo.DUPLICATE]
    assert all(p.read_bytes() != (paths.inbox / original).read_bytes() for p in others)


def test_resubmission_is_later_and_corrected(reports):
    old, new = (reports[n] for n in demo.RESUBMISSION)
    assert [old[k] for k in ("pilot_id", "agency_code", "period")] == [new[k] for k in ("pilot_id", "agency_code", "period")]
    assert new["submitted_on"] > old["submitted_on"]
    def k3(r):
        return Decimal(next(row["actual"] for row in r["rows"] if row["item_code"] == "K3"))

    assert k3(old) < k3(new)  # corrected figures, not a resend of the same ones


def test_each_identity_has_one_accepted_report_except_the_resubmission(reports):
    seen = defaultdict(list)
    for name, r in _regular(reports).items():
        seen[(r["pilot_id"], r["agency_code"], r["period"])].append(name)
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert twice == {("PLT-2548-003", "03009", "2549-Q2"): list(demo.RESUBMISSION)}


def test_roles_send_what_they_should(reports):
    for name, r in _regular(reports).items():
        plan = _plan(r["pilot_id"])
        role = plan.role_of(r["agency_code"])
        types = {row["line_type"] for row in r["rows"]}
        sources = {row["funding_source"] for row in r["rows"] if row["line_type"] == "budget"}
        assert role != "advisory", name
        if role == "lead":
            assert {row["item_code"] for row in r["rows"] if row["line_type"] == "kpi"} == {k.code for k in plan.kpis}
            assert "budget" in types
        else:
            assert types == {"budget"}, name
        if role == "supporting":
            assert sources == {"support_contribution"}, name
        if role == "secondary":
            assert "support_contribution" not in sources, name
    secondary_sources = [row["funding_source"] for r in _regular(reports).values()
                         if _plan(r["pilot_id"]).role_of(r["agency_code"]) == "secondary"
                         for row in r["rows"]]
    # Mostly their own money, some planned through the lead agency's integrated plan.
    assert secondary_sources.count("own") > secondary_sources.count("lead_integrated") > 0


def test_budgets_are_realistic(reports):
    ytd = {}
    restated = 0
    for name, r in sorted(_regular(reports).items(), key=lambda kv: (kv[1]["period"], kv[1]["submitted_on"])):
        for row in r["rows"]:
            if row["line_type"] != "budget":
                continue
            allocated, disbursed = Decimal(row["allocated_thb"]), Decimal(row["disbursed_thb"])
            assert Decimal(1_000_000) <= allocated <= Decimal(100_000_000), name  # millions of baht
            assert 0 <= disbursed <= allocated, name
            key = (r["pilot_id"], r["agency_code"], row["item_code"], r["period"][:4])
            if key in ytd:
                before_alloc, before_disb = ytd[key]
                assert disbursed >= before_disb, name  # year to date: never shrinks
                restated += allocated != before_alloc
            ytd[key] = (allocated, disbursed)
    assert restated >= 5


def test_late_agency_is_habitually_late(reports):
    late = [r for r in _regular(reports).values() if r["agency_code"] == demo.LATE_AGENCY]
    assert len(late) == len(demo.PERIODS)
    for r in late:
        days = (r["submitted_on"] - demo.period_bounds(r["period"])[1]).days
        assert 45 <= days <= 70
    # Every other first report is on time.
    for r in _regular(reports).values():
        if r["agency_code"] != demo.LATE_AGENCY:
            due = demo.period_bounds(r["period"])[1] + timedelta(days=_plan(r["pilot_id"]).due_days)
            assert r["submitted_on"] <= due or (r["pilot_id"], r["agency_code"]) == ("PLT-2548-003", "03009")


def test_missing_agency_skips_quarters(reports):
    sent = {r["period"] for r in reports.values()
            if (r["pilot_id"], r["agency_code"]) == ("PLT-2548-004", demo.MISSING_AGENCY)}
    assert sent == set(demo.PERIODS) - set(demo.MISSING_PERIODS)
    # Nobody else misses a due quarter.
    for plan in demo.PILOTS:
        for code, role in plan.agencies:
            if role == "advisory" or code == demo.MISSING_AGENCY:
                continue
            assert {r["period"] for r in _regular(reports).values()
                    if (r["pilot_id"], r["agency_code"]) == (plan.pilot_id, code)} == set(plan.periods)


def test_defective_files_are_present_with_their_defect(paths, reports):
    assert len(demo.DEFECTIVE) >= 6
    assert set(demo.CORRECTED) <= set(demo.DEFECTIVE)
    by_code = {code: name for name, code in demo.DEFECTIVE.items()}
    r = reports[by_code["PILOT_UNKNOWN"]]
    assert r["pilot_id"] not in {p.pilot_id for p in demo.PILOTS}
    r = reports[by_code["PERCENT_OUT_OF_RANGE"]]
    assert any(Decimal(row["actual"]) > 100 for row in r["rows"] if row["line_type"] == "kpi")
    r = reports[by_code["DISBURSED_OVER_ALLOCATED"]]
    assert any(Decimal(row["disbursed_thb"]) > Decimal(row["allocated_thb"]) for row in r["rows"])
    r = reports[by_code["NOT_A_NUMBER"]]
    assert any(row["actual"] and not row["actual"].replace(".", "").isdigit() for row in r["rows"])
    r = reports[by_code["COLUMN_MISSING"]]
    assert "disbursed_thb" not in r["header"] and any(i.code == "COLUMN_MISSING" for i in r["issues"])
    r = reports[by_code["KPI_NOT_LEAD"]]
    assert _plan(r["pilot_id"]).role_of(r["agency_code"]) != "lead"
    assert any(row["line_type"] == "kpi" for row in r["rows"])
    r = reports[by_code["KPI_UNKNOWN"]]
    codes = {k.code for k in _plan(r["pilot_id"]).kpis}
    assert any(row["item_code"] not in codes for row in r["rows"] if row["line_type"] == "kpi")
    for bad, fixed in demo.CORRECTED.items():
        assert reports[fixed]["submitted_on"] > reports[bad]["submitted_on"]


def test_the_project_checks_agree(paths):
    """The registry-aware checks give each defective file exactly its defect, and pass the rest."""
    pytest.importorskip("pilots.checks")
    from pilots.ingest import check_files

    outcomes = check_files(sorted(paths.inbox.iterdir()), load_registry(paths.registry), paths.as_of)
    for o in outcomes:
        errors = sorted({i.code for i in o.issues if i.is_error})
        expected = [demo.DEFECTIVE[o.file_name]] if o.file_name in demo.DEFECTIVE else []
        assert errors == expected, o.file_name
        assert not [i for i in o.issues if not i.is_error], o.file_name  # no warnings either


# --- the scores the story promises ---------------------------------------------------------------

def _round4(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _score(a: Decimal, ts: list[Decimal], direction: str) -> Decimal:
    """scoring.md §1, step 3."""
    if direction == "higher":
        if a <= ts[0]:
            return Decimal(1)
        if a >= ts[4]:
            return Decimal(5)
        k = max(i for i in range(5) if ts[i] <= a)
        return _round4(k + 1 + (a - ts[k]) / (ts[k + 1] - ts[k]))
    if a >= ts[0]:
        return Decimal(1)
    if a <= ts[4]:
        return Decimal(5)
    k = max(i for i in range(5) if ts[i] >= a)
    return _round4(k + 1 + (ts[k] - a) / (ts[k] - ts[k + 1]))


def _status(s: Decimal) -> str:
    return "on_target" if s >= 3 else "at_risk" if s >= 2 else "off_track"


def _accepted_lead_reports(reports) -> dict[tuple[str, str], dict]:
    """(pilot, period) -> the lead agency's accepted report (resubmission rule: latest submitted_on,
    ties to the name that sorts last)."""
    accepted: dict[tuple[str, str], dict] = {}
    for name, r in sorted(_regular(reports).items()):
        key = (r["pilot_id"], r["period"])
        if r["agency_code"] == _plan(r["pilot_id"]).lead:
            if key not in accepted or r["submitted_on"] >= accepted[key]["submitted_on"]:
                accepted[key] = r
    return accepted


def composite(reports, plan: demo.PilotPlan, period: str) -> tuple[str, Decimal]:
    """A pilot's status and composite score in one period (scoring.md §1-2)."""
    accepted = _accepted_lead_reports(reports)
    fy, q = int(period[:4]), int(period[-1])
    total = Decimal(0)
    for k in plan.kpis:
        values = []
        for qq in range(1, q + 1) if k.aggregation == "sum" else [q]:
            rows = accepted[(plan.pilot_id, f"{fy}-Q{qq}")]["rows"]
            values += [Decimal(row["actual"]) for row in rows if row["item_code"] == k.code]
        scale = Decimal(q) / 4 if k.aggregation == "sum" else Decimal(1)
        ts = [Decimal(str(t)) * scale for t in k.thresholds[fy]]
        total += _score(sum(values), ts, k.direction) * k.weight
    value = _round4(total / 100)
    return _status(value), value


def latest_composites(reports) -> dict[str, tuple[str, Decimal]]:
    """Each pilot's status and composite in its latest due period."""
    return {plan.pilot_id: composite(reports, plan, plan.periods[-1]) for plan in demo.PILOTS}


def test_the_resubmission_changes_a_status(reports):
    plan = _plan("PLT-2548-003")
    first_only = {n: r for n, r in reports.items() if n != demo.RESUBMISSION[1]}
    assert composite(first_only, plan, "2549-Q2")[0] == "at_risk"
    assert composite(reports, plan, "2549-Q2")[0] == "on_target"


def test_pilots_end_with_a_mix_of_statuses(reports):
    got = latest_composites(reports)
    assert {pid: status for pid, (status, _) in got.items()} == demo.EXPECTED_LATEST_STATUS
    assert set(demo.EXPECTED_LATEST_STATUS.values()) == {"on_target", "at_risk", "off_track"}


# --- docs/demo.md ------------------------------------------------------------------------------

def test_docs_tell_the_same_story(reports):
    text = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")
    for name, code in demo.DEFECTIVE.items():
        line = next((ln for ln in text.splitlines() if f"`{name}`" in ln), None)
        assert line is not None and f"`{code}`" in line, name
    for name in (*demo.RESUBMISSION, *demo.DUPLICATE, *demo.CORRECTED.values()):
        assert f"`{name}`" in text, name
    assert demo.LATE_AGENCY in text and demo.MISSING_AGENCY in text
    assert all(p in text for p in demo.MISSING_PERIODS)
    for pid, (status, value) in latest_composites(reports).items():
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {pid} "))
        assert f"`{status}`" in row and str(value) in row, pid
    # The dates and figures the page quotes are the ones in the files.
    for r in reports.values():
        if r["agency_code"] == demo.LATE_AGENCY:
            assert r["submitted_on"].isoformat() in text
    for name in demo.RESUBMISSION:
        r = reports[name]
        assert r["submitted_on"].isoformat() in text
        k3 = int(next(row["actual"] for row in r["rows"] if row["item_code"] == "K3"))
        assert f"{k3:,}" in text
    by_code = {code: reports[name] for name, code in demo.DEFECTIVE.items()}
    assert next(row["actual"] for row in by_code["PERCENT_OUT_OF_RANGE"]["rows"] if row["item_code"] == "G1") in text
    assert next(row["actual"] for row in by_code["NOT_A_NUMBER"]["rows"] if row["item_code"] == "J1") in text
    assert f"{len(reports)} files" in text
