"""The committee summary: one data model (model.py) rendered to Markdown (and later HTML)."""
from kpis.summary.model import build_model
from kpis.summary.render import write_summaries

__all__ = ["build_model", "write_summaries"]
