"""Reminder letters to agencies with overdue reports (shared/spec/follow-up.md)."""
from kpis.letters.model import build_letters
from kpis.letters.render import write_letters

__all__ = ["build_letters", "write_letters"]
