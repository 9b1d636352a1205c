"""DriftCheck: the new span's statistics against the training window's, by the schema's comparators.

The reference is the newest `TrainingStatistics` (what the latest trained model learned
from). The finding is recorded, never acted on here: the run's reason names it, and
`ctpipe watch --retrain on-trigger` trains only when a trigger such as drift fires.
"""
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from pipeline import drift
from pipeline.components.span_window import span_of

EXAMPLES_KEY = 'examples'
STATISTICS_KEY = 'statistics'
REFERENCE_KEY = 'reference_statistics'
SCHEMA_KEY = 'schema'
REPORT_KEY = 'drift_report'
REPORT_FILE = 'drift.json'
# The split both sides are read from: every span and the window are hash-split alike.
SPLIT = 'train'
DRIFTED_PROPERTY = 'drifted_features'
SUMMARY_PROPERTY = 'summary'


class DriftReport(types.Artifact):
  """Per-feature drift measurements of one span against a training window (drift.json)."""
  TYPE_NAME = 'ctpipe.DriftReport'  # span: a custom property (KFP v2 types take no properties)


def check(span: int, statistics: types.Artifact, reference: Optional[types.Artifact],
          schema_uri: str, report: types.Artifact) -> List[drift.Measurement]:
  """Measures drift, writes `drift.json` and records the drifted features on `report`."""
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
  measurements: List[drift.Measurement] = []
  if reference is not None:
    current = drift.load_split_statistics(statistics.uri, SPLIT)
    previous = drift.load_split_statistics(reference.uri, SPLIT)
    if current is None or previous is None:
      raise ValueError(f'no {SPLIT!r} split statistics in {statistics.uri} or {reference.uri}')
    measurements = drift.measure(current, previous, schema, drift.DRIFT)
  tf.io.gfile.makedirs(report.uri)
  with tf.io.gfile.GFile(os.path.join(report.uri, REPORT_FILE), 'w') as f:
    f.write(drift.to_json(measurements, span=span,
                          reference=reference.uri if reference is not None else None))
  report.set_int_custom_property('span', span)
  report.set_string_custom_property(
      DRIFTED_PROPERTY, ','.join(m.feature for m in drift.beyond(measurements)))
  report.set_string_custom_property(
      SUMMARY_PROPERTY, drift.summary(measurements, drift.DRIFT) if reference is not None
      else 'no training window yet to compare with')
  return measurements


def read_report(uri: str) -> List[drift.Measurement]:
  with tf.io.gfile.GFile(os.path.join(uri, REPORT_FILE)) as f:
    return drift.from_json(f.read())


class DriftCheckExecutor(base_executor.BaseExecutor):
  """TFX glue around `check`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    references = input_dict.get(REFERENCE_KEY) or []
    check(span_of(artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])),
          artifact_utils.get_single_instance(input_dict[STATISTICS_KEY]),
          max(references, key=lambda a: a.id) if references else None,
          artifact_utils.get_single_instance(input_dict[SCHEMA_KEY]).uri,
          artifact_utils.get_single_instance(output_dict[REPORT_KEY]))


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
