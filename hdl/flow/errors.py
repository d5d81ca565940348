"""The error of the report and sweep commands."""

__all__ = ["ReportError"]


class ReportError(ValueError):
    """A report cannot be made from these inputs (the message is one line)."""
