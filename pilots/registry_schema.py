"""The registry's format, declared once: every file, every key, its type, its rule and an example.

pilots/registry.py takes the keys each file may hold from here (any other key is refused, naming
the file and the key), and `pilotkpi docs` writes docs/registry.md from here, so the keys the
loader accepts and the keys the documentation lists cannot differ. The rules themselves are
checked by the loader; each rule is written here in the words of its error message.

To add a key (e.g. a new secretariat.yaml field): add a Key to its Part below, read it in
pilots/registry.py, and run `pilotkpi docs`. The format follows the contract's pilot-registry.md
(shared/spec), with the additions the Part descriptions name.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    name: str
    type: str          # as the reader of docs/registry.md needs it
    required: bool
    rule: str          # what the loader checks
    example: str       # a YAML value, as it is written in the file

    def line(self) -> str:
        return f"{self.name}: {self.example}"


@dataclass(frozen=True)
class Part:
    title: str                 # the file, or the list inside a file
    about: str
    keys: tuple[Key, ...]
    rules: tuple[str, ...] = ()  # rules across keys, entries or files
    listed: bool = False         # a YAML list of such mappings (agencies.yaml, strategies.yaml)

    def names(self) -> set[str]:
        return {k.name for k in self.keys}

    def example_yaml(self, indent: str = "") -> str:
        lines: list[str] = []
        for k in self.keys:  # a key holding a list of entries shows one entry of its Part
            nested = NESTED.get((self.title, k.name))
            lines += [f"{k.name}:", *nested.example_yaml("  ").splitlines()] if nested else [k.line()]
        if self.listed:
            return "\n".join(f"{indent}{'- ' if i == 0 else '  '}{line}" for i, line in enumerate(lines))
        return "\n".join(f"{indent}{line}" for line in lines)


TEXT = "text"
MAX_TEXT = 500  # characters in any registry text (pilots/registry.py): docs/registry.md says why
RULE_TEXT = "non-empty text"

AGENCY = Part(
    "agencies.yaml", "Every agency that may take part in a pilot: a list, one mapping per agency.",
    (Key("code", "text of 5 digits", True, 'quoted, so that YAML keeps the leading zero ("03009", not 03009): a '
         "code written without quotes is refused, 03009 too; unique in the file", '"03009"'),
     Key("name_th", TEXT, True, RULE_TEXT, "สำนักงาน ก.พ.ร."),
     Key("name_en", TEXT, True, RULE_TEXT, "Office of the Public Sector Development Commission"),
     Key("ministry", TEXT, False, "non-empty text, or left out", "Office of the Prime Minister"),
     Key("head_th", TEXT, False, "non-empty text, or left out: the addressee of the Thai letter (เรียน …); "
         "without it the letter is addressed to the head of the agency by the agency's name", "เลขาธิการ ก.พ.ร."),
     Key("head_en", TEXT, False, "non-empty text, or left out: the addressee of the English letter",
         "Secretary-General of the OPDC"),
     Key("email", "e-mail address", False, "one address (no display name, no list), or left out: the "
         "reminders' mail merge", "saraban@opdc.go.th")),
    listed=True)

SECRETARIAT = Part(
    "secretariat.yaml (optional)",
    "The office that sends the reminder letters. Without the file, letters are signed by the "
    "pilot-project committee secretariat in each language. The address and telephone are this "
    "project's additions to the contract's format.",
    (Key("name_th", TEXT, True, RULE_TEXT, "สำนักงานคณะกรรมการพัฒนาระบบราชการ"),
     Key("name_en", TEXT, True, RULE_TEXT, "Office of the Public Sector Development Commission"),
     Key("letter_prefix", TEXT, True, "non-empty text: document numbers are `<letter_prefix>/<running number>`",
         "นร 1200"),
     Key("address_th", TEXT, False, "non-empty text, or left out: the letterhead's address",
         "ถนนพิษณุโลก เขตดุสิต กรุงเทพฯ 10300"),
     Key("address_en", TEXT, False, "non-empty text, or left out", '"Phitsanulok Road, Dusit, Bangkok 10300"'),
     Key("phone", TEXT, False, "non-empty text, or left out: the letter's contact line (โทร.)", "0 2356 9999"),
     Key("fax", TEXT, False, "non-empty text, or left out: the letter's โทรสาร", "0 2356 9998"),
     Key("email", TEXT, False, "one e-mail address, or left out: the letter's ไปรษณีย์อิเล็กทรอนิกส์",
         "saraban@opdc.go.th"),
     Key("signer_name_th", TEXT, False, "non-empty text, or left out; given together with signer_position_th: "
         "the name under the Thai letter's signature", "นายสมชาย ใจดี"),
     Key("signer_position_th", TEXT, False, "non-empty text, or left out; given with signer_name_th: the "
         "signer's position (ตำแหน่ง), with its department", "เลขาธิการ ก.พ.ร."),
     Key("signer_name_en", TEXT, False, "non-empty text, or left out; given together with signer_position_en",
         "Mr Somchai Jaidee"),
     Key("signer_position_en", TEXT, False, "non-empty text, or left out; given with signer_name_en",
         '"Secretary-General, Office of the Public Sector Development Commission"'),
     Key("division_th", TEXT, False, "non-empty text, or left out: ส่วนราชการเจ้าของเรื่อง, the division that "
         "owns the matter", "กองพัฒนาระบบบริหาร"),
     Key("division_en", TEXT, False, "non-empty text, or left out: the division that owns the matter",
         "Administrative Systems Development Division")),
    ("The file is named secretariat.yaml; a secretariat.yml is refused rather than skipped.",))

STRATEGY = Part(
    "strategies.yaml (optional)",
    "The names of the public-sector development strategies (1-7) that pilots serve, shown in the "
    "summaries. Without the file, strategies are shown by number. This file is this project's addition.",
    (Key("number", "whole number", True, "1 to 7, unique in the file", "1"),
     Key("name_th", TEXT, True, RULE_TEXT, "การพัฒนากระบวนการทำงาน"),
     Key("name_en", TEXT, True, RULE_TEXT, "Reengineering work processes")),
    listed=True)

PILOT = Part(
    "pilots/<pilot_id>.yaml", "One file per pilot project, named by its pilot id.",
    (Key("pilot_id", TEXT, True, "the file's name without .yaml; unique; not . or .., no /, \\ or control "
         "characters; no space at either end (report cells are read trimmed); quoted if YAML would read it as "
         'a number ("0042", not 0042, which is the octal number 34)', "PLT-2548-003"),
     Key("name_th", TEXT, True, RULE_TEXT, "ระบบบริการประชาชนแบบเบ็ดเสร็จ"),
     Key("name_en", TEXT, True, RULE_TEXT, "One-stop e-citizen service"),
     Key("layer", "whole number", True, "1 to 5: the layer of the 2004 resolution the pilot belongs to", "5"),
     Key("strategies", "list of whole numbers", True, "non-empty, distinct, each 1 to 7", "[1, 6]"),
     Key("classification", "open | restricted", True, "restricted: security or official secrecy; its line-level "
         "data is kept in the segregated restricted store", "open"),
     Key("start", "CE date", True, "YYYY-MM-DD, a Common-Era year (a BE year such as 2547 is refused); before end; "
         'with or without quotes ("2004-10-01" is the same date)', "2004-10-01"),
     Key("end", "CE date", True, "YYYY-MM-DD, a Common-Era year; with or without quotes", "2006-09-30"),
     Key("report_due_days", "whole number", False, "1 to 3650; days after a quarter's end by which its report "
         "is due (default 30)", "30"),
     Key("agencies", "list of agency entries", True, "non-empty; see the agency entry below", ""),
     Key("kpis", "list of KPI entries", True, "non-empty; see the KPI entry below", "")),
    ("Every pilot has exactly one lead agency.",
     "An agency appears at most once in a pilot.",
     "KPI weights are positive and add up to 100 exactly.",
     "Every fiscal year that the pilot's dates touch has thresholds for every KPI."))

PARTICIPANT = Part(
    "an entry of a pilot's `agencies`", "An agency taking part in the pilot, and its role.",
    (Key("code", "text of 5 digits", True, "quoted (a code without quotes is refused); listed in agencies.yaml",
         '"03009"'),
     Key("role", "lead | secondary | supporting | advisory", True, "the lead reports the KPIs; an advisory "
         "agency sends no budget lines; only a supporting agency sends support_contribution lines", "lead"),
     Key("no_reminders_until", "CE date", False, "YYYY-MM-DD (with or without quotes), or left out: an agreed "
         "extension, no reminder letter before this day", "2005-12-31")),
    listed=True)

KPI = Part(
    "an entry of a pilot's `kpis`", "A success indicator of the pilot, reported by its lead agency.",
    (Key("code", TEXT, True, "non-empty; unique within the pilot; reports name the KPI by it, so no space at "
         'either end (report cells are read trimmed); quoted if YAML would read it as a number ("1", not 1)',
         "K1"),
     Key("name_th", TEXT, True, RULE_TEXT, "ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์"),
     Key("name_en", TEXT, True, RULE_TEXT, "Share of applications filed online"),
     Key("unit", "percent | count | baht | days | score", True, "percent: actuals and thresholds within 0-100",
         "percent"),
     Key("direction", "higher | lower", True, "which way is better", "higher"),
     Key("aggregation", "last | sum", True, "last: a level as of the quarter; sum: a flow added up over the "
         "fiscal year (thresholds are then pro-rated by quarter)", "last"),
     Key("weight", "number", True, "positive, at most 4 decimal places; the pilot's weights add up to 100; "
         "written as a plain number (see numbers above)", "100"),
     Key("thresholds", "mapping of BE fiscal year to five numbers", True, "keyed by Buddhist-Era fiscal year "
         "(2548 = FY2005, October 2004 to September 2005); the values that earn scores 1 to 5, strictly "
         "increasing for higher, strictly decreasing for lower, at most 10 decimal places, below 10^20 "
         "in absolute value",
         "{2548: [20, 30, 40, 50, 60], 2549: [40, 50, 60, 70, 80]}")),
    listed=True)

PARTS = (AGENCY, SECRETARIAT, STRATEGY, PILOT, PARTICIPANT, KPI)
NESTED = {(PILOT.title, "agencies"): PARTICIPANT, (PILOT.title, "kpis"): KPI}


def example_registry() -> dict[str, str]:
    """A complete registry folder made of the examples (relative path -> YAML): the docs show these,
    and tests/test_docs.py loads them, so every example passes the loader."""
    pilot_id = next(k.example for k in PILOT.keys if k.name == "pilot_id")
    return {"agencies.yaml": AGENCY.example_yaml() + "\n", "secretariat.yaml": SECRETARIAT.example_yaml() + "\n",
            "strategies.yaml": STRATEGY.example_yaml() + "\n", f"pilots/{pilot_id}.yaml": PILOT.example_yaml() + "\n"}


def registry_markdown() -> str:
    """docs/registry.md, generated from PARTS by `pilotkpi docs`."""
    lines = [
        "# The registry format",
        "",
        "Generated from `pilots/registry_schema.py` by `pilotkpi docs`; do not edit by hand.",
        "",
        "The registry is what the committee decided: the pilots, the agencies taking part and their roles,",
        "and each pilot's KPIs with their weights and thresholds. It is a folder of YAML files kept under",
        "version control:",
        "",
        "```",
        "agencies.yaml            every agency that may take part",
        "pilots/<pilot_id>.yaml   one file per pilot",
        "secretariat.yaml         optional: the office that sends the reminder letters",
        "strategies.yaml          optional: the names of the strategies pilots serve",
        "```",
        "",
        "Every run reads it first. A broken registry stops the job before anything is written: the",
        "command prints one line per problem, naming the file, the entry and the rule, and exits 4.",
        "Each problem is given in English and then in Thai (the rules' words are catalogued once, in",
        "`pilots/registry_rules.yaml`); `pilotkpi check --format json` answers a JSON document on stdout",
        "(`\"status\": \"refused\"`, and each problem's `file`, `subject`, `rule_en` and `rule_th`), exit 4",
        "too. A value the registry holds is quoted escaped (`'One-stop \\u202e service'`).",
        "A restricted pilot's problems name its KPI codes and quote its values, which the open side never",
        "keeps: every job (`run`, `serve`, `rebuild`, `reprocess`, `close-quarter`, `reopen`, `approve`,",
        "`reject`; their output, the flow run's message and log in Prefect's database, the served night's",
        "line) and the web say such a file as one line, its name and \"a restricted pilot's file breaks a",
        "rule; the operator sees it with pilotkpi check\" with the same in Thai. `pilotkpi check FILE",
        "--registry DIR` prints every problem whole. A pilot file counts as restricted when its own",
        "`classification:` says `restricted`, or the published copy's `registry.pilots` holds its pilot as",
        "restricted (a move to open not yet committed is still masked), or neither can be read as `open`",
        "(bad YAML in a new pilot's file, no published copy yet); a problem in another file is masked when",
        "its subject is a pilot the published copy holds as restricted (`pilots/registry_problems.py`).",
        "The warehouse's working file is not read for this: another job may hold it for writing. A",
        "refusal is never in `ops.runs`: the registry is read before the job's run is recorded.",
        "A key that is not listed below is refused (a misspelt optional key would otherwise be ignored).",
        "",
        "A key written twice in one mapping is refused too (a second `weight:`, a second `2548:` under",
        "`thresholds`, a second `agencies:` list): YAML would silently keep the last one. Keys brought in",
        "by a merge (`<<: *base`) may be overridden.",
        "",
        f"No text may be longer than {MAX_TEXT} characters (a name, an address, an e-mail address, a code).",
        "The registry's text is printed whole: on a line of a letter, in the summaries, in a cell of the",
        "exports and of reminders.csv, the mail merge that Excel opens and whose cell holds at most 32,767",
        "characters. Real names are far shorter (the demo registry's longest is 78 characters); 500 leaves",
        "room for any of them, and a longer text is a paste gone wrong, not a name.",
        "",
        "A code that reports name (`pilot_id`, a KPI's `code`, an agency's `code`) must not begin or end",
        "with a space: report cells are read trimmed, so no report could name it. A `pilot_id` or KPI code",
        "that YAML would read as a number (0042 is the octal number 34) must be quoted, as agency codes are.",
        "",
        "What YAML makes of a value is not always what it looks like; the loader says so rather than guess:",
        "",
        "- Agency codes are always quoted (`\"03009\"`). A code written without quotes is refused, even",
        "  03009, which this loader (YAML 1.1) would read as the text \"03009\" but a YAML 1.2 tool reads as",
        "  the number 3009; 01005 is the octal number 517 to both. An explicit tag (`!!str 03009`) is text to",
        "  every reader and is taken as quotes are. A code that is not five digits (ABCDE) is told its form.",
        "- Dates may be written with or without quotes: `start: \"2004-10-01\"` is the same date as",
        "  `start: 2004-10-01` (the secretariat quotes codes, and a quoted date can mean nothing else). It",
        "  must still be a real day, YYYY-MM-DD, in a Common-Era year.",
        "- Numbers (a `weight`, `thresholds`) are written plainly. YAML reads a number in quotes (`\"40\"`)",
        "  and one with an exponent but no decimal point (`2e3`) as text: such a value is refused, the",
        "  message saying that YAML read it as text and the plain number to write (2000) when that number",
        "  meets the field's rule; when it does not (`\"-40\"`, a weight), the message says the rule instead.",
        "",
        "No text may hold a control character (C0 or C1: a newline, a tab, ESC; a line feed is allowed in a",
        "secretariat address only), a bidi control (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to",
        "U+2069) or a line or paragraph separator (U+2028, U+2029): every output would show it as a stand-in.",
        "",
    ]
    for part in PARTS:
        title = part.title.replace("pilots/<pilot_id>.yaml", "`pilots/<pilot_id>.yaml`")  # not an HTML tag
        lines += [f"## {title}", "", part.about, "",
                  "| key | type | required | rule |", "|---|---|---|---|"]
        lines += [f"| `{k.name}` | {_cell(k.type)} | {'yes' if k.required else 'no'} | {_cell(k.rule)} |"
                  for k in part.keys]
        lines.append("")
        if part.rules:
            lines += [f"- {rule}" for rule in part.rules] + [""]
        lines += ["Example:", "", "```yaml", part.example_yaml(), "```", ""]
    return "\n".join(lines + CHANGES)


# How a change of a running pilot's registry reaches its earlier periods: the reading the marts
# follow (kpis/*.sql cite this section), and the warning a job gives of a new lead
# (warehouse/registry_check.lead_changes).
CHANGES = [
    "## Changing the registry of a running pilot",
    "",
    "Every job computes every due period from today's registry, earlier periods too: the warehouse",
    "keeps the registry of today only, not the one in force when a quarter fell due. A committee",
    "decision that changes a running pilot therefore changes its earlier quarters' figures as well:",
    "",
    "| change | what it does to earlier periods |",
    "|---|---|",
    "| a new lead agency | The KPI scores and outlier checks of every due quarter read the new lead's "
    "accepted reports; a quarter it did not report is `no_data` (every KPI missing, score 1), and the old "
    "lead's KPI values count no more. In the budget figures the new lead's lines are the lead's "
    "(integrated) and the old lead's `own` lines fragmented. The job prints and logs a warning in English "
    "and Thai naming the pilot, the old and the new lead. |",
    "| an agency added | It is expected for every due quarter, earlier ones too: reporting compliance shows "
    "those quarters missing, and reminders list them, at the level their days overdue give (a quarter "
    "long past escalates at once). Set `no_reminders_until` on the new entry (below). |",
    "| an agency removed, or made advisory | It is expected for no quarter, and its accepted budget lines "
    "count in no period's budget snapshot or figures (`agencies_reporting` leaves it out): an advisory "
    "agency sends no budget lines, and validation refuses a file of an agency that is not the pilot's. "
    "Its files stay in the warehouse; given back a role of lead, secondary or supporting, its accepted "
    "reports count again. |",
    "| another role among lead, secondary and supporting | It is still expected and its lines still "
    "count, with the funding source they were accepted with (a `support_contribution` line stays "
    "integrated). A change of lead is the first row. |",
    "| a KPI added | It is scored for every due quarter; a quarter without its value is `no_data` "
    "(score 1), which lowers the composite of earlier quarters. |",
    "| a KPI removed | It has no score, no outlier check and no flag in any period; its reported values "
    "stay in `core.kpi_actuals`. |",
    "| a weight or a threshold changed | Every due quarter is scored again with the new ones. |",
    "| the pilot's dates changed | The due periods follow: a quarter outside the new dates has no row. |",
    "",
    "A closed quarter is recomputed like the others; its summary then says it changed since it was",
    "closed. A closed quarter the new dates leave out (or a closed quarter of a removed pilot) has no",
    "row in the marts: its composite is gone, which differs from the one at closing, so the",
    "summaries' and the web's Closed quarters tables show it as `–` and \"changed since closing\";",
    "but one closed with no composite (no KPI reported) is unchanged, none then and none now. A",
    "closed quarter the pilot's dates still cover has no row either when the job's as-of date is",
    "before the quarter's end (`rebuild --as-of` an earlier day): it is not due yet as of that day,",
    "and shows `–` now but unchanged. Analysts find such a quarter as an open closure",
    "(`approval.quarter_closures`, `reopened_at` NULL) with no `marts.pilot_scores` row: that mart",
    "holds due periods only. To keep a quarter's figures as they were, close it before the registry",
    "changes and keep the summary of that night.",
    "",
    "When an agency joins a running pilot, add `no_reminders_until` to its entry with the day until",
    "which it gets no reminder letter, for example the due date of the first quarter it is to report:",
    "without it, the next night writes it letters, level 3 included, for quarters before it joined.",
    "`no_reminders_until` stops its letters for that pilot until that day only; reporting",
    "compliance still shows the earlier quarters as not submitted, and after that day the",
    "reminders list every due quarter it has not reported, earlier ones included.",
    "",
    "```yaml",
    "agencies:",
    "  - {code: \"03009\", role: lead}",
    "  - {code: \"17003\", role: supporting, no_reminders_until: 2005-12-31}   # joined in 2548-Q4",
    "```",
    "",
]


def _cell(text: str) -> str:
    """Text for a Markdown table cell: `open | restricted` must not split the cell."""
    return text.replace("|", "\\|")
