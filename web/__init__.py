"""The web front door (docs/web.md, spec web.md): `pilotkpi web`.

Imports point one way: web -> flows -> kpis, pilots -> warehouse. The site reads the published
copy (and the restricted store) read-only, and writes only into the inbox, its accounts file and
its audit trail.
"""
