"""The DriftCheck executor: TFX glue around the plain functions of this folder."""
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline.components.drift_check import drift
from pipeline.resolvers.span_window import span_of

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
      else 'no earlier training window to compare with (a first run, or a re-run of a span a window already holds)')
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

