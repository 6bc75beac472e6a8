"""The declared graph of steps (issue 22): every mart and every output of a job is one `Step` that
says what it reads, and everything else is derived from these declarations:
- the build order of the marts and the order of the steps after the commit (graphlib's
  topological sort: a step comes after every step whose output it reads);
- each step's skip key: SHA-256 over the digests of the relations it reads, the bytes of its
  files (SQL, YAML docs, templates, and the project-local import closure of its Python modules),
  the keys of the steps it reads, and the as-of date where it depends on it.

A step whose key equals the one it was last done with is skipped. tests/test_steps.py checks that
the declarations are complete: DuckDB's own parser lists the relations each mart's SQL and each
output module's SQL reads (json_serialize_sql, through views and macros), and they must be the
declared ones.

Why not Dagster or dbt: both are models here (Dagster's asset `deps` and `code_version`, dbt's
`ref()` and state comparison), but both want to own the run: Dagster materialises each asset in
its own step with its own storage I/O, dbt runs each model in its own transaction. A job here is
one writer in one DuckDB transaction (all-or-nothing, warehouse.md) inside a Prefect flow, so the
graph is this small module and graphlib from the standard library (README, "Cheap nights").
"""
from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from datetime import date
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: declared files are relative to it
PACKAGES = ("flows", "kpis", "pilots", "warehouse")  # project code: imports of these are followed

# Every mart runs these: the macros, the build code (CREATE, COMMENTs) and the merge of the
# restricted store's allowed rows into the open mart.
MART_CODE = ("kpis/macros.sql", "kpis/build.py", "warehouse/restricted.py")


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # "mart" (built inside the job's transaction) or "output" (after the commit)
    reads: tuple[str, ...] = ()  # relations, schema.name; marts.<x> makes mart step x an input
    after: tuple[str, ...] = ()  # output steps whose result it uses (a link, a model)
    files: tuple[str, ...] = ()  # globs relative to the checkout: SQL, YAML, templates, label files
    modules: tuple[str, ...] = ()  # Python modules that compute it (with their project-local imports)
    as_of: bool = False  # its result depends on the job's as-of date
    skippable: bool = True  # False: done by every job (filing the inbox away)
    writes: tuple[str, ...] = ()  # what it writes, for docs/operations.md (files_table)
    jobs: tuple[str, ...] = ()  # the commands whose jobs run it; () for every job
    # (relation, its columns) where a mart reads only some columns of a per-pilot relation: a
    # pilot is recomputed when these columns of its rows changed, not any (kpis/build.partitions).
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # A mart's second key within a pilot: of a recomputed pilot, only the rows of each
    # (pilot_id, *keys) that changed are rewritten (kpis/build._replace_changed_keys).
    keys: tuple[str, ...] = ()
    # (relation, SQL condition on its row `t`) where a mart reads only the rows that meet it: a
    # pilot is recomputed when those rows changed, not any (kpis/build.partitions).
    # tests/test_incremental.py checks each claim: the mart's SQL over the relation cut to these
    # rows gives the whole mart.
    rows: tuple[tuple[str, str], ...] = ()
    # Per-pilot relations with agency_code that a mart reads per (pilot, agency): its rows of agency
    # A of pilot P are computed from (P, A)'s rows of these and P's rows of its other relations, so
    # ops.mart_partitions keeps a fingerprint per (pilot, agency) too and a changed pair alone is
    # recomputed (kpis/build.py). tests/test_incremental.py checks the claim on every pair.
    by_agency: tuple[str, ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        """The steps it reads: marts it names, and the outputs it comes after."""
        marts = tuple(r.split(".", 1)[1] for r in self.reads if r.startswith("marts.") and r.split(".", 1)[1] in MARTS)
        return tuple(dict.fromkeys(marts + self.after))


def _mart(name: str, reads: tuple[str, ...], *, as_of: bool = False, modules: tuple[str, ...] = (),
          columns: tuple[tuple[str, tuple[str, ...]], ...] = (), keys: tuple[str, ...] = (),
          rows: tuple[tuple[str, str], ...] = (), by_agency: tuple[str, ...] = ()) -> Step:
    return Step(name, "mart", reads, files=(f"kpis/{name}.sql", f"kpis/{name}.yml", *MART_CODE),
                modules=modules, as_of=as_of, columns=columns, keys=keys, rows=rows, by_agency=by_agency)


# The KPI marts read the lead agency's submissions only (their `lead_submissions`), and only the
# lead sends KPI values: another agency's report (162 of the 196 revisions of the 1%-new night at
# 400 pilots) changes none of their rows, so it recomputes no pilot there.
LEAD_ROWS = "t.agency_code = (SELECT p.lead_agency_code FROM registry.pilots p WHERE p.pilot_id = t.pilot_id)"


# The relations each mart's SQL reads (tests/test_steps.py compares them with DuckDB's parse).
_MART_STEPS = [
    _mart("due_periods", ("registry.pilots",), as_of=True),
    _mart("kpi_scores", ("core.kpi_actuals", "ingest.submissions", "marts.due_periods", "registry.kpi_thresholds",
                         "registry.kpis", "registry.pilots"), rows=(("ingest.submissions", LEAD_ROWS),)),
    _mart("pilot_scores", ("approval.quarter_closures", "marts.due_periods", "marts.kpi_scores")),
    # A pilot's new report changes the lines in effect of its agency's periods only: only that
    # (pilot, agency) is recomputed (by_agency: an agency's latest report is chosen among its own),
    # and of it only the (period, agency) whose rows changed are rewritten.
    # An agency counts while today's registry names it in the pilot in a role that sends budget
    # (registry.pilot_agencies, also per pair: one agency removed, added or given another role
    # recomputes that pair alone).
    _mart("budget_snapshot", ("core.budget_lines", "ingest.submissions", "marts.due_periods", "registry.pilot_agencies",
                              "registry.pilots"),
          keys=("period", "agency_code"),
          by_agency=("core.budget_lines", "ingest.submissions", "registry.pilot_agencies")),
    # The budget figures never read budget_snapshot.submission_id: a report sent again with the same
    # lines (a revision, most of a 1%-new night) changes no figure and recomputes no pilot here.
    _mart("budget_integration", ("marts.budget_snapshot", "marts.due_periods", "registry.pilot_agencies"),
          columns=(("marts.budget_snapshot", ("pilot_id", "period", "agency_code", "activity_code", "funding_source",
                                              "allocated_thb", "disbursed_thb", "is_lead", "is_integrated")),)),
    _mart("budget_integration_by_layer", ("marts.budget_snapshot",),
          columns=(("marts.budget_snapshot", ("pilot_id", "period", "fiscal_year", "quarter", "layer", "funding_source",
                                              "allocated_thb", "disbursed_thb", "is_lead", "is_integrated")),)),
    _mart("reporting_compliance", ("ingest.submissions", "marts.due_periods", "registry.pilot_agencies")),
    # outlier_test(x, H), the UDF of kpis/outliers.py, runs inside its SQL.
    # Only the pilot's KPIs in today's registry (registry.kpis).
    _mart("kpi_outlier_checks", ("core.kpi_actuals", "ingest.submissions", "marts.due_periods", "registry.kpis",
                                 "registry.pilots"),
          modules=("kpis.outliers",), rows=(("ingest.submissions", LEAD_ROWS),)),
    _mart("kpi_outliers", ("marts.kpi_outlier_checks",)),
    # The names of the agency and pilot and the pilot's classification (a restricted pilot's names
    # and file are left out): a pilot's other registry fields change no reminder of it.
    _mart("reminders", ("ingest.submissions", "marts.reporting_compliance", "registry.agencies",
                        "registry.pilot_agencies", "registry.pilots"), as_of=True,
          columns=(("registry.pilots", ("pilot_id", "name_th", "name_en", "classification")),)),
]
MARTS = {s.name: s for s in _MART_STEPS}

_SUMMARY_READS = ("approval.quarter_closures", "approval.restricted_held", "ingest.issues", "ingest.submissions", "marts.budget_integration",
                  "marts.budget_integration_by_layer", "marts.kpi_outlier_checks", "marts.kpi_outliers", "marts.kpi_scores",
                  "marts.pilot_scores", "marts.reminders", "marts.reporting_compliance", "registry.agencies", "registry.kpi_thresholds",
                  "registry.kpis", "registry.pilots", "registry.strategies")

# The steps after the commit. The relations an output reads are those of the SQL in its modules
# (tests/test_steps.py). validation_report reads the job's own rows: it is written by a job that
# read files, and only then (issue 23 item 3).
_OUTPUT_STEPS = [
    Step("validation_report", "output",
         reads=("approval.quarter_closures", "approval.restricted_held", "ingest.issues", "ingest.submissions",
                "marts.kpi_outlier_checks", "marts.kpi_outliers", "marts.pilot_scores", "ops.runs", "registry.agencies",
                "registry.pilots"),
         files=("kpis/summary/templates/validation.html.j2", "kpis/summary/templates/_validation_flags.html.j2"),
         modules=("kpis.summary.validation",),
         writes=("`OUT/{report}` (only when the job read files)",),
         jobs=("run", "reprocess")),
    Step("summaries", "output", reads=_SUMMARY_READS, after=("validation_report",),
         files=("kpis/summary/templates/*.j2",), modules=("kpis.summary.model", "kpis.summary.render"), as_of=True,
         writes=("`OUT/summary.{th,en}.{html,md}`", "`OUT/pilots/*.{th,en}.{html,md}` (a summary too big for one page)")),
    Step("artifact", "output", reads=_SUMMARY_READS, after=("summaries",), modules=("kpis.summary.artifact",),
         writes=("Prefect artifact `pilotkpi-summary` (no file)",)),
    Step("letters", "output",
         reads=("ingest.issues", "ingest.submissions", "marts.reminders", "registry.agencies", "registry.pilots",
                "registry.secretariat"),
         files=("kpis/letters/templates/*.j2",), modules=("kpis.letters.model", "kpis.letters.render"), as_of=True,
         writes=("`OUT/reminders/<agency_code>.{th,en}.html`", "`OUT/reminders/reminders.csv`")),
    Step("file_away", "output", modules=("pilots.inbox",), skippable=False,
         writes=("`INBOX/processed/`", "`INBOX/quarantine/` (files moved there)"), jobs=("run",)),
    # The analysts' copy holds every relation: its key is the whole data state (kpis/fingerprint.py).
    Step("publish", "output", reads=("*",), after=("validation_report", "summaries", "artifact", "letters", "file_away"),
         modules=("warehouse.publish",), writes=("`<warehouse>.published.duckdb`",)),
]
OUTPUTS = {s.name: s for s in _OUTPUT_STEPS}


def _order(steps: dict[str, Step]) -> list[str]:
    graph = TopologicalSorter({name: [i for i in s.inputs if i in steps] for name, s in steps.items()})
    graph.prepare()
    order: list[str] = []
    ready: set[str] = set()
    while graph.is_active():  # of the steps ready, the first declared: the same order every run
        ready |= set(graph.get_ready())
        first = next(n for n in steps if n in ready)
        ready.discard(first)
        order.append(first)
        graph.done(first)
    return order


MART_ORDER = _order(MARTS)  # the marts' build order
POST_COMMIT_ORDER = _order(OUTPUTS)  # the steps after a job's commit (ops.runs.failed_steps)


def files_of(step: Step) -> list[Path]:
    """Every file the step's result depends on: its declared globs and its modules' import closure."""
    found = {p for pattern in step.files for p in ROOT.glob(pattern) if p.is_file()}
    for module in step.modules:
        found |= module_closure(module)
    return sorted(found)


@cache
def _imports(path: Path) -> tuple[str, ...]:
    """Project modules a source file imports (any depth of the tree, lazily imported ones too):
    `from a.b import c` is module a.b.c if there is one, else a.b (c is defined there)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{a.name}" if _source(f"{node.module}.{a.name}") else node.module
                      for a in node.names]
    return tuple(n for n in names if n.split(".")[0] in PACKAGES)


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_closure(module: str) -> set[Path]:
    """The source file of a module and of every project module it imports, transitively (parsed,
    never imported). A package's __init__ counts where something is imported from it, not where
    a module inside it is: its re-exports are not what the importer runs."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = _source(todo.pop())
        if path is not None and path not in seen:
            seen.add(path)
            todo += list(_imports(path))
    return seen


def code_digest(step: Step) -> str:
    """SHA-256 over the declaration and the bytes of every file the step depends on, read now."""
    h = hashlib.sha256(repr((step.name, step.reads, step.after, step.files, step.modules, step.as_of,
                             *((step.columns,) if step.columns else ()), *((step.rows,) if step.rows else ()),
                             *((step.by_agency,) if step.by_agency else ()))).encode())
    for path in files_of(step):
        h.update(str(path.relative_to(ROOT)).encode() + b"\x00")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def key(step: Step, relations: dict[str, str], as_of: date, upstream: dict[str, str] | None = None,
        extra: str = "", code: str | None = None) -> str:
    """The step's skip key. relations: digest of each relation it reads; upstream: keys (or
    results, such as a link) of the steps it comes after; extra: inputs from outside the
    warehouse (the restricted store's rows a mart takes); code: its code_digest, if the caller
    has it already (read now otherwise)."""
    parts = [code_digest(step) if code is None else code, step.as_of and as_of.isoformat(), extra,
             *sorted(f"{r}={d}" for r, d in relations.items()),
             *sorted(f"{s}:{k}" for s, k in (upstream or {}).items())]
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8") + b"\x00")
    return h.hexdigest()


# The commands that run a job, and what each reads (docs/operations.md); the name of its report.
REPORTS = {"run": "validation.html", "reprocess": "validation-reprocess-<run_id>.html"}
JOBS = {"run": "reads the inbox", "reprocess": "reads one quarantined file again", "rebuild": "reads no file",
        "close-quarter": "a decision: reads no file", "approve": "a decision: reads no file",
        "reject": "a decision: reads no file", "reopen": "a decision: reads no file"}


def files_table() -> str:
    """The Markdown table of docs/operations.md "Files each job writes", from the declarations."""
    lines = ["| job | | files it writes after its commit, in this order |", "|---|---|---|"]
    for job, what in JOBS.items():
        written = [w.replace("{report}", REPORTS.get(job, "")) for name in POST_COMMIT_ORDER for w in OUTPUTS[name].writes
                   if not OUTPUTS[name].jobs or job in OUTPUTS[name].jobs]
        lines.append(f"| `{job}` | {what} | {'; '.join(written)} |")
    return "\n".join(lines) + "\n"
