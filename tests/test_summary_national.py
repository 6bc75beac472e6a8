"""The committee summary at national scale (issue 12 item 6): an overview table of every pilot
(status, composite, trend, late agencies) linked to its section, contents by layer and status,
and one file per pilot under out/pilots/ when a single page would pass about 5 MB (lowered here
through kpis.summary.pages.MAX_PAGE_BYTES so the test stays small).

The generated registry: 20 copies of tests/test_flow.py's pilot (lead 03009, secondary 15001,
supporting 11002, advisory 20004; K1 `last` weight 60 on [20..60], K2 `sum` weight 40 on
[100..500]), layer 1 + i % 5, pilot i = PLT-2548-1<ii>; PLT-2548-100 restricted. Each lead
sends Q1 (K1 47, K2 60) and Q2; the secondary and the supporting agency send nothing.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.summary import pages
from kpis.summary.model import PilotSection, SummaryModel
from kpis.summary.render import render_markdown, write_summaries
from tests.test_flow import AGENCIES, AS_OF, HEADER, PILOT

N = 20
IDS = [f"PLT-2548-1{i:02d}" for i in range(N)]
RESTRICTED = IDS[0]
# Q2 lead values by i % 4, and the composites they give (scoring.md §2-4, as in tests/test_flow.py):
#   Q1 for all: K1 47 -> 3 + (47-40)/10 = 3.7; K2 60 on [25,50,75,100,125] (Q1: 1/4 of the annual)
#               -> 2 + (60-50)/25 = 2.4; composite (3.7*60 + 2.4*40)/100 = 3.18.
#   0, 1: K1 55 -> 4.5; K2 YTD 60+90 = 150 on [50,100,150,200,250] -> 3.0; (4.5*60 + 3*40)/100 = 3.9,
#         on_target, change 3.9 - 3.18 = +0.72.
#   2:    K1 20 -> 1.0; K2 YTD 60+10 = 70 -> 1 + (70-50)/50 = 1.4; (1*60 + 1.4*40)/100 = 1.16,
#         off_track (< 2), change 1.16 - 3.18 = -2.02.
#   3:    K1 25 -> 1 + (25-20)/10 = 1.5; K2 YTD 150 -> 3.0; (1.5*60 + 3*40)/100 = 2.1, at_risk,
#         change 2.1 - 3.18 = -1.08.
Q2 = {0: (55, 90), 1: (55, 90), 2: (20, 10), 3: (25, 90)}
EXPECTED = {0: ("3.9000", "on_target", "▲ +0.7200"), 1: ("3.9000", "on_target", "▲ +0.7200"),
            2: ("1.1600", "off_track", "▼ −2.0200"), 3: ("2.1000", "at_risk", "▼ −1.0800")}


def layer_of(i: int) -> int:
    return 1 + i % 5


def make_national(root: Path) -> tuple[Path, Path]:
    registry, inbox = root / "registry", root / "inbox"
    (registry / "pilots").mkdir(parents=True)
    inbox.mkdir()
    (registry / "agencies.yaml").write_text(AGENCIES, encoding="utf-8")
    for i, pid in enumerate(IDS):
        text = (PILOT.replace("PLT-2548-003", pid).replace("layer: 5", f"layer: {layer_of(i)}")
                .replace("classification: open", f"classification: {'restricted' if pid == RESTRICTED else 'open'}"))
        (registry / "pilots" / f"{pid}.yaml").write_text(text, encoding="utf-8")
        k1, k2 = Q2[i % 4]
        rows = [f"{pid},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,", f"{pid},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,"]
        (inbox / f"{pid}_q1.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        rows = [f"{pid},03009,2548-Q2,2005-04-25,kpi,K1,,{k1},,,,", f"{pid},03009,2548-Q2,2005-04-25,kpi,K2,,{k2},,,,"]
        (inbox / f"{pid}_q2.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return registry, inbox


class Links(HTMLParser):
    """Every <a href> and every overview row's cells, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None
        self._cells: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "tr" and "data-overview" in a:
            self._row, self._cells = a["data-overview"], []
        if tag == "td" and self._row:
            self._cells.append("")

    def handle_data(self, data):
        if self._row and self._cells:
            self._cells[-1] += data

    def handle_endtag(self, tag):
        if tag == "tr" and self._row:
            self.rows[self._row] = [" ".join(c.split()) for c in self._cells]
            self._row = None


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def national(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("national")
    registry, inbox = make_national(root)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert f"files seen {2 * N}: accepted {2 * N}, superseded 0, duplicates 0, quarantined 0" in result.output
    return root


def report(root: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--warehouse", str(root / "wh.published.duckdb"), "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_the_overview_table_has_every_pilot_with_hand_computed_figures(national):
    out = national / "out"
    assert not (out / "pilots").exists()  # far below 5 MB: one page
    for lang, change_word in (("en", "Change from the previous period"), ("th", "เปลี่ยนจากงวดก่อน")):
        page = (out / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert change_word in page
        links = parse(page)
        assert list(links.rows) == IDS
        for i, pid in enumerate(IDS):
            composite, status, change = EXPECTED[i % 4]
            name_cell, layer, status_cell, composite_cell, change_cell, late = links.rows[pid]
            assert name_cell.startswith(pid) and layer == str(layer_of(i))
            assert composite_cell == composite and change_cell == change, (pid, links.rows[pid])
            # As of 15 May 2005 the Q2 reports (due 30 Apr) of 11002 and 15001 never came;
            # the lead's came on 25 Apr. The restricted pilot's too: who reported when is on the
            # open side (warehouse.md), and scoring.md §5 lists late agencies for each pilot.
            assert late == "2: 11002, 15001", pid
            assert f'href="#{pid}"' in page and f'id="{pid}"' in page  # linked to its section
        statuses = re.findall(r'<tr data-overview="([^"]+)">.*?data-status="([a-z_]+)"', page, re.S)
        assert dict(statuses) == {pid: EXPECTED[i % 4][1] for i, pid in enumerate(IDS)}


def test_contents_by_layer_and_status(national):
    md = (national / "out" / "summary.en.md").read_text(encoding="utf-8")
    # Layer 1 holds i = 0, 5, 10, 15: i % 4 = 0, 1, 2, 3 -> on_target 100, 105; at_risk (3) 115;
    # off_track (2) 110; no_data none.
    contents = md.split("## Contents by layer and status", 1)[1].split("## ", 1)[0]
    row = next(line for line in contents.splitlines() if line.startswith("| 1 Network |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["1 Network", "[PLT-2548-100](#PLT-2548-100), [PLT-2548-105](#PLT-2548-105)",
                     "[PLT-2548-115](#PLT-2548-115)", "[PLT-2548-110](#PLT-2548-110)", "–"]
    assert '<a id="PLT-2548-115"></a>' in md
    # Each section's late agencies, a restricted pilot's too, as a Markdown table: its rows are
    # lines of their own (a macro's output was once escaped again: newlines as U+240A, pipes as \|).
    assert "\u240a" not in md
    for pid in (RESTRICTED, IDS[1]):
        section = md.split(f'<a id="{pid}"></a>', 1)[1].split("<a id=", 1)[0]
        late = section.split("### Agencies late or missing", 1)[1].split("###", 1)[0].strip().splitlines()
        assert late[0].startswith("| Period | Agency |") and late[1].startswith("|---|") and "\\|" not in section
        # Neither 11002 nor 15001 sent Q1 (due 30 Jan 2005) or Q2 (due 30 Apr): four rows, latest first.
        mict, dopa = "Ministry of Information and Communication Technology (11002)", "Department of Provincial Administration (15001)"
        assert [line.split(" | ")[1] for line in late[2:]] == [mict, dopa, mict, dopa]
    assert "| [PLT-2548-102](#PLT-2548-102) One-stop e-citizen service | 3 | 🔴 off track | 1.1600 | ▼ −2.0200 | 2: 11002, 15001 |" in md


def test_a_page_over_the_limit_is_split_into_one_file_per_pilot(national, monkeypatch):
    out = national / "split"
    single = (national / "out" / "summary.th.html").stat().st_size
    monkeypatch.setattr(pages, "MAX_PAGE_BYTES", single // 2)  # the single Thai page is too big
    report(national, out)
    names = sorted(p.name for p in (out / "pilots").iterdir())
    assert names == sorted(f"{pid}.{lang}.{fmt}" for pid in IDS for lang in ("th", "en") for fmt in ("html", "md"))
    for lang in ("th", "en"):
        for fmt in ("html", "md"):
            summary = (out / f"summary.{lang}.{fmt}").read_text(encoding="utf-8")
            assert 'class="pilot' not in summary and "<a id=" not in summary  # no pilot section left
            for pid in IDS:
                assert f"pilots/{pid}.{lang}.{fmt}" in summary
        html = (out / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert len(html.encode()) < single // 2
        for href in parse(html).hrefs:
            assert (out / href).is_file(), href  # every link resolves
        page = (out / "pilots" / f"{IDS[2]}.{lang}.html").read_text(encoding="utf-8")
        assert f'id="{IDS[2]}"' in page and 'data-value="1.16"' in page
        assert f'href="../summary.{lang}.html"' in page and "<svg" in page  # its trend chart
        restricted = (out / "pilots" / f"{RESTRICTED}.{lang}.html").read_text(encoding="utf-8")
        section = restricted.split(f'id="{RESTRICTED}"', 1)[1]
        # No KPI, budget or file figures: only the late agencies' table (who reported when).
        assert section.count("<table") == 1 and 'class="kpis"' not in section and 'class="kv"' not in section
        assert "(11002)" in section and "(15001)" in section and "(03009)" not in section
    assert "แต่ละโครงการอยู่ในไฟล์แยก" in (out / "summary.th.html").read_text(encoding="utf-8")
    assert "in its own file in the pilots/ folder" in (out / "summary.en.md").read_text(encoding="utf-8")

    # Back under the limit: one page again, and the split pages go (another file stays).
    (out / "pilots" / "notes.txt").write_text("kept", encoding="utf-8")
    monkeypatch.setattr(pages, "MAX_PAGE_BYTES", 5_000_000)
    report(national, out)
    assert [p.name for p in (out / "pilots").iterdir()] == ["notes.txt"]
    assert f'id="{IDS[2]}"' in (out / "summary.en.html").read_text(encoding="utf-8")


def section(pid: str, layer: int = 1, status: str = "no_data") -> PilotSection:
    return PilotSection(pilot_id=pid, name_th="ก", name_en="a", layer=layer, strategies=[1], restricted=False,
                        period=None, composite=None, status=status, kpis_reported=0, kpis_expected=1)


def test_pilot_ids_unfit_for_a_file_name_get_a_numbered_one(tmp_path):
    ids = ["../../etc/x", "PLT-1", "plt-1", "a b", ".hidden", "PLT-2"]
    model = SummaryModel(date(2006, 8, 15), [section(i) for i in ids], {"no_data": 6}, {1: 6}, {1: 6}, [])
    # Numbered by place (1-based); plt-1 would share PLT-1's file on a case-blind disk.
    assert pages.page_names(model) == {"../../etc/x": "_1", "PLT-1": "PLT-1", "plt-1": "_3", "a b": "_4",
                                       ".hidden": "_5", "PLT-2": "PLT-2"}
    write_summaries(model, tmp_path, max_page_bytes=1)
    assert sorted(p.name for p in (tmp_path / "pilots").iterdir() if p.name.endswith(".en.md")) == [
        "PLT-1.en.md", "PLT-2.en.md", "_1.en.md", "_3.en.md", "_4.en.md", "_5.en.md"]
    assert not (tmp_path.parent / "etc").exists()
    md = render_markdown(model, "en")
    assert '<a id="_1"></a>' in md and "| [\\.\\.\\/\\.\\.\\/etc\\/x](#_1) a |" in md


@pytest.mark.parametrize("value, text", [(Decimal("0.72"), "▲ +0.7200"), (Decimal("-2.02"), "▼ −2.0200"),
                                         (Decimal("0"), "= 0.0000"), (None, "–")])
def test_change_is_written_with_a_shape_and_a_sign(value, text):
    assert pages.fmt_change(value) == text
