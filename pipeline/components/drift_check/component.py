"""DriftCheck: the new span's statistics against the training window's, by the schema's comparators.

The reference is the newest `TrainingStatistics` (what the latest trained model learned
from). The finding is recorded, never acted on here: the run's reason names it, and
`ctpipe watch --retrain on-trigger` trains only when a trigger such as drift fires.
"""

from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from pipeline.components.drift_check.executor import (
  EXAMPLES_KEY,
  REFERENCE_KEY,
  REPORT_KEY,
  SCHEMA_KEY,
  STATISTICS_KEY,
  DriftCheckExecutor,
)


class DriftReport(types.Artifact):
  """Per-feature drift measurements of one span against a training window (drift.json)."""
  TYPE_NAME = 'ctpipe.DriftReport'  # span: a custom property (KFP v2 types take no properties)


class DriftCheckSpec(ComponentSpec):
  PARAMETERS: Dict[str, Any] = {}
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
      REFERENCE_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
      SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
  }
  OUTPUTS = {REPORT_KEY: ChannelParameter(type=DriftReport)}


class DriftCheck(base_component.BaseComponent):
  """Drift of a span against the training window, per feature, as a `ctpipe.DriftReport`."""
  SPEC_CLASS = DriftCheckSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DriftCheckExecutor)

  def __init__(self, examples: types.BaseChannel, statistics: types.BaseChannel,
               schema: types.BaseChannel,
               reference_statistics: Optional[types.BaseChannel] = None):
    super().__init__(spec=DriftCheckSpec(
        examples=examples, statistics=statistics,
        reference_statistics=reference_statistics, schema=schema,
        drift_report=types.Channel(type=DriftReport)))

