"""Rebuild the marts (shared/spec/scoring.md, warehouse.md) from registry.*, ingest.* and core.*.

Like a dbt project: kpis/<name>.sql is one SELECT made of named CTEs ending in
`select * from final`, kpis/<name>.yml beside it documents the relation and holds hand-computed
cases (run by tests/test_marts_cases.py). The marts are a pure function of the warehouse state and
the as-of date. A nightly run rebuilds only the marts whose inputs changed (kpis/steps.py,
ops.mart_inputs); `rebuild` rebuilds all.

Within a mart whose inputs changed, only the pilots whose inputs changed are recomputed (issue 22,
the 1%-new night). Every mart is per pilot: a row of pilot P is computed from P's rows of the
relations with pilot_id it reads, and from relations that are not per pilot (registry.agencies),
its code and the as-of date where it uses it. ops.mart_partitions keeps, per mart, a fingerprint
of each pilot's inputs and one of the rest (kpis/fingerprint.py). When the rest is unchanged, the
mart's own SQL runs with each per-pilot relation narrowed to the changed pilots (scoped_sql); their
rows replace the old ones, and the mart holds the rows a full build gives (tests/test_incremental.py
compares every mart of such nights with a build from scratch). Otherwise the mart is built whole.
A mart that declares the columns it reads of an input (kpis/steps.py `columns`) fingerprints only
those columns of each pilot's rows: a revision with the same budget lines changes the snapshot's
submission ids, which no budget figure reads, so budget_integration and its by-layer companion
recompute none of its pilots (at 400 pilots, 148 pilots' snapshot rows changed on the 1%-new
night and their two marts' CPU went from 0.22 s to 0.06 s). Likewise a mart that declares the rows
it reads of an input (`rows`: the KPI marts read the lead agency's submissions only) fingerprints
only those rows: a secondary agency's report recomputes no pilot of theirs. A mart that declares
the relations it reads per (pilot, agency) (`by_agency`: budget_snapshot) keeps a fingerprint per
pair too, and recomputes only the pairs that changed, unless the pilot's own part did (its rows of
the other relations): on the 1%-new night at 400 pilots, 183 pairs instead of 148 whole pilots,
0.35 -> 0.16 CPU s for that mart's scoped rebuild (docs/scale-out.md, engineer M).
Measured at 100 pilots, where a 1%-new night touches 39 pilots: every mart's SQL 0.37 s of CPU
whole, 0.21 s for 40 pilots, 0.10 s for 5 (bench/incremental.md). Issue 12 had measured a per-pilot
build of 3 pilots at 5.2 s against 7.6 s whole, but with the filter on the result: DuckDB does not
push it below the aggregates and the outlier UDF, so the inputs are narrowed here instead.
"""
from __future__ import annotations

import re
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import date
from typing import Callable, Iterator
from functools import cache
from importlib import resources

import duckdb
import yaml

from kpis import fingerprint, steps
from kpis.outliers import outlier_test_function
from warehouse.testpoints import pause_point

# Build order: derived from each mart's declared inputs (kpis/steps.py). due_periods and
# budget_snapshot are helpers (which periods are due; which budget lines are in effect) that the
# marts share; kpi_outlier_checks is the outlier test of every value, kpi_outliers its flags;
# reminders (follow-up.md) reads reporting_compliance.
MART_NAMES = steps.MART_ORDER


def read_sql(name: str) -> str:
    return (resources.files("kpis") / f"{name}.sql").read_text(encoding="utf-8")


def build_marts(con: duckdb.DuckDBPyConnection, as_of: date, *, only_changed: bool = False,
                run_id: str | None = None, digests: fingerprint.Digests | None = None,
                extra_inputs: dict[str, dict[str, str]] | None = None,
                after: Callable[[str], None] | None = None, names: list[str] | None = None,
                unrecorded: frozenset[str] = frozenset(),
                keeps_unrecorded: frozenset[str] | None = None, record: bool = True) -> list[str]:
    """Create or replace the marts as of `as_of`, inside the caller's transaction (no BEGIN/COMMIT
    here: ingest and marts commit together or not at all). Returns the marts built.

    only_changed: leave a mart whose key (kpis/steps.py: its declared files and code, the rows of
    the relations it declares, the as-of date where declared) equals the one in ops.mart_inputs,
    and in one whose key changed recompute only the pilots whose inputs changed, where that is
    possible (module docstring); otherwise every mart is rebuilt whole. Either way the keys are
    recorded, so the next night can compare.

    extra_inputs: per mart, inputs from outside this database (the restricted store's rows it
    takes), part of its key. after(name): runs on each mart built, before any later mart reads it
    (the restricted store's rows merged in: flows/nightly.py), so keys always see the merged rows.
    The merge replaces every restricted pilot's rows whole, so a mart whose key changed is merged
    again even when none of its pilots is recomputed.

    names: build only these marts, in the build order, the caller naming the marts they read too
    (default: every mart). The what-if of a held file (kpis/whatif.py) builds only the scores so.

    unrecorded: pilots that ops.mart_partitions never names, recomputed with the changed ones in
    every mart whose key changed: the restricted pilots on the open side, of which the open
    warehouse holds nothing but the rows warehouse.md lists (a few pilots; their merged rows are
    replaced whole anyway).

    keeps_unrecorded: the marts that keep the rows they compute of the unrecorded pilots (None:
    every mart). In the others `after` replaces those rows whole (drops them, or takes them from
    the restricted store) as soon as the mart is built, so computing them was wasted: a scoped
    rebuild leaves them out and keeps the rows the last `after` put there, which it replaces again.
    On the 1%-new night at 400 pilots the restricted pilots were the whole scope of most open
    marts (their keys change with the night's rows), each such run scanning its inputs whole.

    record: keep the keys in ops.mart_inputs and ops.mart_partitions (False: the what-if's scratch
    database, dropped after, whose ops tables may be of an older schema than this code's: a
    published copy is migrated only by the next night).
    """
    if only_changed and not record:
        raise ValueError("only_changed compares with the recorded keys: it needs record")
    digests = digests or fingerprint.Digests(con)
    recorded = dict(con.execute("SELECT mart_name, inputs_sha256 FROM ops.mart_inputs").fetchall()) if record else {}
    kept_parts = _recorded_partitions(con) if only_changed else {}
    records = _Records(run_id)
    existing = set(digests.tables(("marts",)))
    to_build = [n for n in MART_NAMES if names is None or n in names]
    # Every mart's key asks for the digest of each relation it reads: those not built here at once.
    digests.prefetch(r for n in to_build for r in steps.MARTS[n].reads if r.split(".", 1)[0] != "marts")
    con.execute(read_sql("macros"))
    built: list[str] = []
    with ExitStack() as udf:
        registered = False
        for name in to_build:
            step = steps.MARTS[name]
            sql = read_sql(name)
            inputs = {r: digests.of(r) for r in step.reads}
            extra = sorted((extra_inputs or {}).get(name, {}).items())
            # Its files read and hashed once here, for its key and its partitions alike.
            code = steps.code_digest(step)
            key = steps.key(step, inputs, as_of, extra=repr(extra), code=code)
            exists = f"marts.{name}" in existing
            if only_changed and recorded.get(name) == key and exists:
                continue
            whole, parts = partitions(step, digests, as_of, code) if record else (None, {})
            parts = {part: sha for part, sha in parts.items() if part[0] not in unrecorded}
            scope = changed_parts(kept_parts.get(name, []), whole, parts) if only_changed and exists else None
            if scope is not None and unrecorded and (keeps_unrecorded is None or name in keeps_unrecorded):
                scope = scope_of(scope + [(pilot, None) for pilot in unrecorded])
            if "outlier_test(" in sql and not registered and scope != []:
                # outlier_test(x, H), the UDF kpi_outlier_checks.sql calls: registered only on a
                # night that rebuilds it (0.2 s; a quiet night rebuilds two marts that do not).
                udf.enter_context(outlier_test_function(con))
                registered = True
            # The run date is a bound parameter, never pasted into SQL; DuckDB rejects a parameter
            # the statement does not use, so it is bound only where a mart refers to $as_of.
            params = {"as_of": as_of} if "$as_of" in sql else None
            if scope is None:
                # A mart replaced key by key (budget_snapshot) is written on one thread (one_thread).
                with one_thread(con) if step.keys else nullcontext():
                    con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS\n{sql}", params)
                # One call for the mart's COMMENTs (about 20 statements; one call each cost a round trip).
                con.execute(";\n".join(comment_statements(name)))
            elif scope:
                _rebuild_pilots(con, name, sql, [r for r in step.reads if digests.per_pilot(r)], scope, params,
                                step.keys, step.by_agency)
            if after is not None:
                after(name)
            digests.forget(f"marts.{name}", together=readers_columns(name))
            if record:
                records.add(name, key, as_of, whole, parts, scope)
            built.append(name)
            pause_point("marts")
    if record:
        records.write(con)
    return built


def readers_columns(name: str) -> list[tuple[str, ...] | None]:
    """The column sets (None: every column) of marts.<name> whose per-pilot digests the marts that
    read it ask for (partitions: their declared `columns`, none declared by_agency or with `rows`
    of it): fingerprint.Digests takes them in the one scan that also gives the mart's own digest,
    once it is rebuilt (forget)."""
    relation = f"marts.{name}"
    return [dict(step.columns).get(relation) for step in steps.MARTS.values()
            if relation in step.reads and relation not in dict(step.rows) and relation not in step.by_agency]


# Above this share of its pilots changed, a mart is built whole: at 100 pilots every mart's SQL
# took 0.40-0.46 s of CPU whole, 0.32-0.35 s for 60 pilots, 0.35-0.41 s for 80, 0.42-0.43 s for
# all 100 through the per-pilot path (the deletes and the scope's joins cost the difference).
WHOLE_ABOVE = 0.8
SCOPE_TABLE = "temp.main.mart_scope"  # the pilots whose rows of a mart are recomputed (column pilot_id)


Part = tuple[str, "str | None"]  # (pilot_id, agency_code) of ops.mart_partitions; None: the pilot's part not per agency


@contextmanager
def one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread for the whole build of a mart replaced key by key (budget_snapshot,
    steps.Step.keys), then as it was.

    On several threads each thread ends its rows with a partial row group of its own (our reading of
    DuckDB), so the mart keeps one in the middle (budget_snapshot at 400 pilots: [122880 x4, 711,
    122880 x3, 100495]). The next night's few thousand deletes then let DuckDB's vacuum save a row
    group at the CHECKPOINT, which rewrites and compresses the groups around it: 0.3 CPU s of the
    served 1%-new night's 0.4-0.5 s checkpoint (bench/results/2026-12-06-E3-served-other.md). On one
    thread the same rows fill full groups but the last; the build costs the same here (0.77-0.87
    against 0.82-1.02 CPU s for budget_snapshot). The other marts are built on all threads: at 400
    pilots none kept a partial row group but its last (under 20,000 rows each)."""
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        # On a cursor: an aborted transaction refuses SET, and `threads` is the database's setting,
        # so a cursor (its own transaction) puts it back for the job's connection too.
        cursor = con.cursor()
        try:
            cursor.execute(f"SET threads = {int(threads)}")
        finally:
            cursor.close()


def partitions(step: steps.Step, digests: fingerprint.Digests, as_of: date,
               code: str) -> tuple[str, dict[Part, str]]:
    """The mart's inputs as ops.mart_partitions keeps them: (a fingerprint of what is not per
    pilot: its code, the as-of date where it uses it, the relations without pilot_id it reads;
    (pilot_id, None) -> a fingerprint of that pilot's rows of each relation with pilot_id it reads
    but those of step.by_agency, and (pilot_id, agency_code) -> one of that pair's rows of each
    relation of step.by_agency; a row of those without an agency counts in the pilot's part).
    code: its steps.code_digest (read once by the caller, which keys the mart with it too)."""
    per_pilot = sorted(r for r in step.reads if digests.per_pilot(r))
    whole = fingerprint.sha(code, step.as_of and as_of.isoformat(), "per pilot:", *per_pilot,
                            *[f"{r}={digests.of(r)}" for r in step.reads if r not in per_pilot])
    columns = dict(step.columns)  # only these columns of a relation, where the step declares them
    rows = dict(step.rows)  # only these rows of a relation, where the step declares them
    agency = [r for r in per_pilot if r in step.by_agency]
    tables = {r: digests.by_pilot(r, columns.get(r), rows.get(r)) for r in per_pilot if r not in agency}
    pairs = {r: digests.by_pilot_agency(r, columns.get(r), rows.get(r)) for r in agency}
    pilots = set().union(*tables.values(), *({p for p, _ in t} for t in pairs.values()))
    parts: dict[Part, str] = {
        (p, None): fingerprint.sha(*[f"{r}={tables[r].get(p, '')}" if r in tables else f"{r}={pairs[r].get((p, None), '')}"
                                     for r in per_pilot]) for p in sorted(pilots)}
    for pair in sorted({k for t in pairs.values() for k in t if k[1] is not None}):
        parts[pair] = fingerprint.sha(*[f"{r}={pairs[r].get(pair, '')}" for r in agency])
    return whole, parts


def _order(part: Part) -> tuple[str, str]:
    return part[0], part[1] or ""


def _recorded_partitions(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """mart_name -> its rows of ops.mart_partitions (pilot_id, agency_code, inputs_sha256), every
    mart's in one query: one query per mart cost about 1 ms each, the statement's own overhead."""
    kept: dict[str, list[tuple]] = {}
    for name, *row in con.execute("SELECT mart_name, pilot_id, agency_code, inputs_sha256 FROM ops.mart_partitions").fetchall():
        kept.setdefault(name, []).append(tuple(row))
    return kept


def changed_parts(rows: list[tuple], whole: str, parts: dict[Part, str]) -> list[Part] | None:
    """What of a mart is to be recomputed (scope_of the parts whose inputs changed since it was
    last built), or None when it is to be built whole: what is not per pilot changed, no
    fingerprint was kept, or most parts changed. rows: its ops.mart_partitions rows (pilot_id,
    agency_code, inputs_sha256) as the job found them."""
    if [sha for pilot, _, sha in rows if pilot is None] != [whole]:
        return None
    then = {(pilot, agency): sha for pilot, agency, sha in rows if pilot is not None}
    keys = then.keys() | parts.keys()
    changed = [k for k in keys if then.get(k) != parts.get(k)]
    return None if len(changed) > WHOLE_ABOVE * len(keys) else scope_of(changed)


def scope_of(changed: list[Part]) -> list[Part]:
    """(pilot, None) for a pilot recomputed whole, (pilot, agency) for a pair alone: a pilot whose
    own part changed is recomputed whole, its pairs with it."""
    whole = {p for p, a in changed if a is None}
    return sorted({(p, None) for p in whole} | {(p, a) for p, a in changed if p not in whole}, key=_order)


def in_scope(by_agency: bool, pilots: bool, pairs: bool) -> str:
    """SQL condition on a row's pilot_id (and agency_code, by_agency) for the rows in SCOPE_TABLE:
    a pilot recomputed whole (agency_code NULL there), or one (pilot, agency) pair. pilots / pairs:
    whether the scope holds any of each (scope_shape); the branch of a kind it holds none of is
    left out, since it selects nothing: on the 1%-new night at 400 pilots budget_snapshot's scope
    was 183 pairs and no whole pilot, and the OR of both subqueries cost its scoped rebuild about
    0.03 s more than the pairs' alone (its fresh rows and the old rows it compares them with)."""
    if not by_agency:
        return f"pilot_id IN (SELECT pilot_id FROM {SCOPE_TABLE})"
    whole = f"pilot_id IN (SELECT pilot_id FROM {SCOPE_TABLE} WHERE agency_code IS NULL)"
    pair = (f"(pilot_id, agency_code) IN (SELECT (pilot_id, agency_code) FROM {SCOPE_TABLE} "
            "WHERE agency_code IS NOT NULL)")
    if pilots and pairs:
        return f"({whole} OR {pair})"
    return whole if pilots else pair


def scope_shape(scope: list[Part]) -> tuple[bool, bool]:
    """(whether the scope recomputes a pilot whole, whether it recomputes a pair alone)."""
    return any(a is None for _, a in scope), any(a is not None for _, a in scope)


def scoped_sql(sql: str, relations: list[str], by_agency: tuple[str, ...] = (),
               shape: tuple[bool, bool] = (True, True)) -> str:
    """The mart's SQL with each of these relations (schema.name) replaced by its rows in
    SCOPE_TABLE (in_scope: of those in by_agency, by pilot and agency; shape: scope_shape of what
    SCOPE_TABLE holds, both kinds if not given). A reference the pattern
    missed would leave that relation whole: slower, never wrong, since _rebuild_pilots keeps only
    the scoped rows of the result."""
    for relation in relations:
        schema, table = (re.escape(part) for part in relation.split("."))
        pattern = rf'(?<![\w."]){schema}\s*\.\s*{table}(?![\w"])(?!\s*\()'
        scoped = f"(SELECT * FROM {relation} WHERE {in_scope(relation in by_agency, *shape)})"
        sql = re.sub(pattern, lambda _: scoped, sql, flags=re.IGNORECASE)
    return sql


def _rebuild_pilots(con: duckdb.DuckDBPyConnection, name: str, sql: str, relations: list[str], scope: list[Part],
                    params: dict | None, keys: tuple[str, ...] = (), by_agency: tuple[str, ...] = ()) -> None:
    """Replace the rows in scope (pilots whole, or (pilot, agency) pairs: scope_of) of
    marts.<name> by the ones its SQL gives for them now; with keys (a mart's second key within a
    pilot, kpis/steps.py), only the rows of each (pilot_id, *keys) whose rows changed
    (_replace_changed_keys)."""
    con.execute("CREATE OR REPLACE TEMP TABLE mart_scope AS "
                "SELECT unnest(?::VARCHAR[]) AS pilot_id, unnest(?::VARCHAR[]) AS agency_code",
                [[p for p, _ in scope], [a for _, a in scope]])
    shape = scope_shape(scope)
    where = in_scope(bool(by_agency), *shape)
    fresh = f"SELECT * FROM (\n{scoped_sql(sql, relations, by_agency, shape)}\n) WHERE {where}"
    if keys:
        _replace_changed_keys(con, name, fresh, ("pilot_id", *keys), params, where)
    else:
        con.execute(f"DELETE FROM marts.{name} WHERE {where}")
        con.execute(f"INSERT INTO marts.{name} {fresh}", params)
    con.execute(f"DROP TABLE {SCOPE_TABLE}")


def _replace_changed_keys(con: duckdb.DuckDBPyConnection, name: str, fresh: str, key: tuple[str, ...],
                          params: dict | None, where: str) -> list[tuple]:
    """Replace, of the scoped rows of marts.<name> (`where`), only those of each key whose rows
    changed: a key whose row count or sum of row hashes (the digests' measure, kpis/fingerprint.py)
    differs between the rows there and the fresh ones, or that is on one side only. On the
    1%-new night at 400 pilots, marts.budget_snapshot's 148 recomputed pilots hold 363k rows, of
    which 191 (pilot, period, agency) keys changed: writing those rows, not all 363k, is what keeps
    the night's write and its CHECKPOINT small (bench/incremental.md). Returns the keys replaced."""
    columns = ", ".join(f'"{c}"' for c in key)
    con.execute(f"CREATE OR REPLACE TEMP TABLE mart_fresh AS {fresh}", params)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE mart_keys AS
        WITH now AS (SELECT {columns}, count(*) AS n, sum(hash(t)) AS h FROM temp.main.mart_fresh t GROUP BY ALL),
             was AS (SELECT {columns}, count(*) AS n, sum(hash(t)) AS h FROM marts.{name} t
                     WHERE {where} GROUP BY ALL)
        SELECT {columns} FROM now FULL JOIN was USING ({columns})
        WHERE now.n IS DISTINCT FROM was.n OR now.h IS DISTINCT FROM was.h""")
    changed = f"({columns}) IN (SELECT ({columns}) FROM temp.main.mart_keys)"
    con.execute(f"DELETE FROM marts.{name} WHERE {changed}")
    con.execute(f"INSERT INTO marts.{name} SELECT * FROM temp.main.mart_fresh WHERE {changed}")
    replaced = con.execute("SELECT * FROM temp.main.mart_keys ORDER BY ALL").fetchall()
    con.execute("DROP TABLE temp.main.mart_fresh")
    con.execute("DROP TABLE temp.main.mart_keys")
    return replaced


class _Records:
    """The keys of the marts built (ops.mart_inputs) and their partitions (ops.mart_partitions),
    written together once every mart is built: in the job's transaction, like the marts, so they
    commit with them or not at all, and no mart reads another's records. Written mart by mart,
    they were about 25 statements of 1-4 ms a store on the 1%-new night at 400 pilots.

    A whole build replaces every row of its mart; a scoped one the rows of the pilots and pairs it
    recomputed (the others keep the job that computed them)."""

    def __init__(self, run_id: str | None):
        self.run_id = run_id
        self.keys: list[list] = []  # [mart_name, inputs_sha256, as_of, run_id]
        self.whole: list[str] = []  # marts built whole: all their partition rows go
        self.pilots: list[list[str]] = []  # [mart_name, pilot_id] recomputed whole in a scoped build
        self.pairs: list[list[str]] = []  # [mart_name, pilot_id, agency_code] recomputed alone
        self.rows: list[tuple] = []  # (mart_name, pilot_id, agency_code, inputs_sha256) to insert

    def add(self, name: str, key: str, as_of: date, whole: str, parts: dict[Part, str],
            scope: list[Part] | None) -> None:
        self.keys.append([name, key, as_of, self.run_id])
        if scope is None:
            self.whole.append(name)
            self.rows.append((name, None, None, whole))
            recorded = sorted(parts, key=_order)
        else:
            again = {p for p, a in scope if a is None}
            again_pairs = {(p, a) for p, a in scope if a is not None}
            self.pilots += [[name, p] for p in sorted(again)]
            self.pairs += [[name, p, a] for p, a in sorted(again_pairs)]
            recorded = [k for k in sorted(parts, key=_order) if k[0] in again or k in again_pairs]
        self.rows += [(name, p, a, parts[(p, a)]) for p, a in recorded]

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.keys:
            return
        con.execute("INSERT OR REPLACE INTO ops.mart_inputs SELECT * FROM (SELECT unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[]), unnest(?::DATE[]), unnest(?::VARCHAR[]))",
                    [list(column) for column in zip(*self.keys)])
        if self.whole or self.pilots or self.pairs:
            con.execute("DELETE FROM ops.mart_partitions WHERE list_contains(?::VARCHAR[], mart_name) "
                        "OR list_contains(?::VARCHAR[][], [mart_name, pilot_id]) "
                        "OR list_contains(?::VARCHAR[][], [mart_name, pilot_id, agency_code])",
                        [self.whole, self.pilots, self.pairs])
        if self.rows:
            con.execute("INSERT INTO ops.mart_partitions (mart_name, pilot_id, agency_code, inputs_sha256, run_id) "
                        "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?",
                        [*[list(column) for column in zip(*self.rows)], self.run_id])


@cache  # parsed once per process: the pure-Python parser took 0.26 s a mart on each build
def read_doc(name: str) -> dict:
    return yaml.load((resources.files("kpis") / f"{name}.yml").read_text(encoding="utf-8"),
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _quote(text: str) -> str:
    return "'" + " ".join(str(text).split()).replace("'", "''") + "'"


def comment_statements(name: str) -> list[str]:
    """COMMENTs for a rebuilt mart from its YAML, the one source of its docs (warehouse/migrations/
    0003_comments.sql explains the "[grain: …; keys: …; joins: …]" suffix the docs generator reads)."""
    doc = read_doc(name)
    table = (f"{doc['description']} [grain: {doc['grain']}; keys: {', '.join(doc['keys'])}; "
             f"joins: {doc['joins']}]")
    statements = [f"COMMENT ON TABLE marts.{name} IS {_quote(table)}"]
    statements += [f"COMMENT ON COLUMN marts.{name}.{c['name']} IS {_quote(c['description'])}" for c in doc["columns"]]
    return statements
