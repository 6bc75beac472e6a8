"""What the normaliser and the checks may know of a KPI line's unit, and for whom.

A KPI's unit decides judgements of its lines: the normaliser lets `%` pass on a percent KPI and
`บาท` on a baht KPI only, and a percentage cell of Excel on a percent KPI only
(pilots/normalise.py); the checks keep a percent KPI's actual within 0-100 (pilots/checks.py,
PERCENT_OUT_OF_RANGE). A restricted pilot's KPIs are in the restricted store alone (warehouse.md,
"Restricted pilots"): a defect given for one of its codes and not for another would tell an agency
that does not lead it which codes exist and which are percentages. So, as checks.file_defects
judges its KPI codes, a restricted pilot's units apply to a file of its lead agency only; any other
agency's file is quarantined all the same (AGENCY_NOT_PARTICIPANT for a stranger, KPI_NOT_LEAD for a
participant that does not lead), with the same defects whatever its values.

Not judged means what the normaliser does without a registry: `%` and `บาท` are both accepted on
such a line (a text that is no number stays NOT_A_NUMBER, whatever its code), and no range rule of
a unit applies; a line of an unknown KPI of an open pilot, or of its lead's file, is judged as
before (neither sign passes).

The units are one plain dict (pickled to Dask workers, compared with the units a read-ahead used):
(pilot_id, kpi_code) -> unit for an open pilot; for a restricted one, (pilot_id,) -> its lead
agency's code and (pilot_id, kpi_code, lead agency code) -> unit. A look-up by (pilot_id, kpi_code)
alone finds no restricted pilot's unit.

Whose file it is: `file_agency`, the agency checks.file_defects takes as the file's (a JSON
document's top-level agency, else the valid code most of its rows hold, the earliest row breaking
a tie). A row of a stranger's file that names the lead agency is the stranger's all the same.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping

AGENCY_CODE = re.compile(r"^[0-9]{5}\Z")  # as pilots/checks.py's rule reads an agency code


NOT_JUDGED = "not judged"  # a restricted pilot's KPI line in a file not of its lead


def kpi_unit(units: Mapping[tuple, str], pilot_id: object, kpi_code: object, agency: str | None) -> str | None:
    """The unit of a KPI line of a file from `agency`: None for an unknown KPI, NOT_JUDGED for a
    restricted pilot's line in a file of another agency than its lead (whatever the code)."""
    unit = units.get((pilot_id, kpi_code))
    if unit is not None:
        return unit
    lead = units.get((pilot_id,))
    if lead is None:  # an open pilot (or none): an unknown code
        return None
    return units.get((pilot_id, kpi_code, lead)) if agency == lead else NOT_JUDGED


def file_agency(agencies: Iterable[object], declared: Mapping[str, str] | None = None) -> str | None:
    """The file's agency (its rows' canonical agency codes, in row order; `declared`: a JSON
    document's top-level identity), as checks.file_defects takes it; None when no code is valid."""
    first = (declared or {}).get("agency_code")
    if not first:
        counts = Counter(a for a in agencies if isinstance(a, str) and AGENCY_CODE.match(a))
        top = max(counts.values(), default=0)
        first = next((a for a, n in counts.items() if n == top), None)  # first seen: the earliest row
    return first if isinstance(first, str) and AGENCY_CODE.match(first) else None
