"""An independent reference computation of the marts, written from /work/shared/spec alone.

`reference.compute` reads the warehouse's inputs (registry, ingest.submissions, core lines,
approval.quarter_closures) from the open warehouse and the restricted store, and recomputes
every mart the spec defines with Python's decimal module; `compare.differences` lists every cell
where the real marts differ from it. Nothing here imports kpis/: the point is a second reading.
"""
