"""The committee summary: one data model (model.py) rendered to Markdown and HTML."""
from kpis.summary.artifact import artifact_markdown
from kpis.summary.model import build_model
from kpis.summary.render import write_summaries

__all__ = ["artifact_markdown", "build_model", "write_summaries"]
