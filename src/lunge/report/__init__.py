"""Report writers, one per format (``txt`` brief, ``json`` complete), reading only the store's
models: a report can be written again at any time from what the store keeps (``lunge report``).

May import: ``lunge.store.models``.
"""

from __future__ import annotations

from lunge.report.document import REPORT_VERSION, ReportInput
from lunge.report.writers import FORMATS, report_stem, write_reports

__all__ = ["FORMATS", "REPORT_VERSION", "ReportInput", "report_stem", "write_reports"]
