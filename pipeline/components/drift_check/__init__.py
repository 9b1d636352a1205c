"""DriftCheck: the new span against the training window (component, executor, measures in drift.py)."""
from pipeline.components.drift_check.component import (DriftReport, DriftCheckSpec, DriftCheck)
from pipeline.components.drift_check.executor import (EXAMPLES_KEY, STATISTICS_KEY, REFERENCE_KEY, SCHEMA_KEY, REPORT_KEY, REPORT_FILE, SPLIT, DRIFTED_PROPERTY, SUMMARY_PROPERTY, check, read_report, DriftCheckExecutor)

__all__ = ['DriftReport', 'DriftCheckSpec', 'DriftCheck', 'EXAMPLES_KEY', 'STATISTICS_KEY', 'REFERENCE_KEY', 'SCHEMA_KEY', 'REPORT_KEY', 'REPORT_FILE', 'SPLIT', 'DRIFTED_PROPERTY', 'SUMMARY_PROPERTY', 'check', 'read_report', 'DriftCheckExecutor']
