"""Imported once by the forkserver of `pilotkpi serve` (flows/warm.py): every module a night needs,
so each night's forked process starts with them imported.

Only imports, the summaries' templates compiled, GE's suite built and the served registry parsed: no
thread, no connection, no file left open (a fork copies none of them safely).
"""
from __future__ import annotations

import warnings

import flows.nightly  # noqa: F401  Prefect, DuckDB, pandas, the flow and the project's modules
import pilots.checks  # noqa: F401  the validation's own module (it imports GE lazily)

# Great Expectations, quietly as pilots/checks.py imports it: its import trips Python's own
# DeprecationWarnings. A night with new files needs it; a quiet night does not, but the fork is free.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import great_expectations  # noqa: F401

# GE's context and the row suite (pilots.checks._gx, built once per process), built here: a served
# night with new files built them in its first validation (`ge`: 0.06 s of CPU, paired). An ephemeral context
# with in-memory stores: no thread, no file, no connection (tests/test_serve_warm.py checks).
# Guarded as preload_registry is: an error here would end the forkserver (it swallows only
# ImportError, which would skip record_code below); a night then builds GE itself, as before.
try:
    pilots.checks.warm_ge()
except Exception:
    pass

# What the engine and a night with new files imported in each night's process (a cProfile of a
# served 1%-new night at 400 pilots: 280 modules, openpyxl's and the engine's the largest):
# Prefect's flow and task engines (prefect.engine itself runs as __main__ in the night and imports
# them), the XLSX reader and openpyxl, the Thai and BOM codecs of CSV files.
import importlib  # noqa: E402

for _name in ("prefect.flow_engine", "prefect.task_engine", "prefect.utilities.visualization",
              "prefect.concurrency.context", "prefect.concurrency.v1.context", "prefect.concurrency._sync",
              "prefect._internal.control_listener", "prefect._internal.attempt_control", "prefect._internal.retries",
              "prefect.telemetry.run_telemetry", "pilots.readers.xlsx_reader", "pandas.core.methods.to_dict",
              "encodings.cp874", "encodings.utf_8_sig", "encodings.cp437",
              # Still imported by every served night (its sys.modules at exit against the fork's,
              # 2026-12-05): anyio's asyncio backend and streams (the engine's event loop threads),
              # the flow run suspension observer, Prefect's vendored croniter, multiprocessing's locks.
              "anyio._backends._asyncio", "anyio.streams.memory", "anyio.streams.stapled", "anyio.streams.tls",
              "anyio._core._sockets", "anyio.abc._testing", "prefect._internal.observers", "prefect._internal.pytz",
              "prefect._vendor.croniter", "multiprocessing.synchronize"):
    try:
        importlib.import_module(_name)
    except ImportError:  # a private module another Prefect release moved: the night imports what it needs
        pass

# The summaries' templates, compiled once here (kpis/summary/render.COMPILED): a night renders
# without compiling them (about 0.1 s of CPU; Jinja compiles again a template changed on disk).
from kpis.summary.render import compile_templates  # noqa: E402

compile_templates()

# The validation report's template, in its own environment (kpis/summary/validation.py).
from kpis.summary.validation import report_environment  # noqa: E402

report_environment().get_template("validation.html.j2")

# The follow-up letters' templates, in their own environment (kpis/letters/render.py).
from kpis.letters.render import compile_templates as compile_letter_templates  # noqa: E402

compile_letter_templates()

# The defect catalogue (pilots/defects.yaml), which every night that reads a file or writes a
# validation report looks its messages up in: parsed once here, not in each night.
from pilots.defects import catalogue  # noqa: E402

catalogue()

# The registry `serve` was given (flows/serve.py names it in WARM_REGISTRY_ENV), parsed once here:
# each night's load_registry reads the files' bytes again and takes this parse only while their
# digest is the same (pilots/registry.py's memo), else it parses them as before. At 400 pilots the
# parse cost each served night 0.24 s (bench/results/2026-12-05-vm-p400-idle-3.md).
from flows.warm import preload_registry  # noqa: E402

preload_registry()

# The import closures of the steps' declared modules (kpis/steps.py files_of: every source file
# parsed with ast, memoised per process), which each night's step keys read: parsed once here
# (about 0.04 s of CPU a night). The bytes of every declared file are still read each night; the
# import graph is that of the code this helper imported, the code every night forked from it runs.
from kpis import steps  # noqa: E402

for _step in (*steps.MARTS.values(), *steps.OUTPUTS.values()):
    steps.files_of(_step)

# The TLS context each Prefect client of a night builds from its CA bundle, built once here
# (flows/warm.py reuse_tls_context: 20-30 ms a client, several clients a night).
from flows.warm import preload_tls_context  # noqa: E402

preload_tls_context()

# The project's source files imported above, recorded: each night compares them with the disk and
# runs cold if they changed (flows/warm.py record_code, changed_code).
from flows.warm import record_code  # noqa: E402

record_code()

# Last: every object made above moved to the garbage collector's permanent generation. A night's
# full collections no longer walk the helper's ~350k objects, whose headers they wrote, so every
# page of the helper's heap was copied into the night (copy on write): at 400 pilots a served
# night's first full collection took 1.2-1.9 s of wall time and 26k page faults under load, 0.01 s
# frozen. At the helper's own exit they are given back, so its interpreter frees them as before
# (DuckDB's bindings report instances still alive at exit as "leaked"); a night leaves with
# os._exit (multiprocessing) and runs no exit hook.
import atexit  # noqa: E402
import gc  # noqa: E402

gc.freeze()
atexit.register(gc.unfreeze)
