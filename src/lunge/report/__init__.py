"""Report writers, one per format (``txt`` brief, ``json`` complete, ``html`` for people, ``sarif``
for code scanning, ``junit`` for the CI's test tab, ``md`` for PR comments and job summaries),
reading only the store's models: a report can be written again at any time from what the store
keeps (``lunge report``).

May import: ``lunge.store.models``.
"""

from __future__ import annotations

from lunge.report.diff import Comparison, DiffState, compare
from lunge.report.document import REPORT_VERSION, ReportInput, Rule
from lunge.report.evidence import curl_line
from lunge.report.writers import EXTENSIONS, FORMATS, report_stem, write_reports

__all__ = ["EXTENSIONS", "FORMATS", "REPORT_VERSION", "Comparison", "DiffState", "ReportInput", "Rule", "compare",
           "curl_line", "report_stem", "write_reports"]
