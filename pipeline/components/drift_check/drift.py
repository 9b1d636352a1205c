"""Drift and skew between two sets of statistics, measured by TFDV's own comparators.

The thresholds live in the curated schema, per feature: `drift_comparator` (new span
against the training window) and `skew_comparator` (served requests against the
training data), each an L-infinity distance for categorical features or a
Jensen-Shannon divergence for numeric ones. Nothing here decides what to do about a
finding; the pipeline records it and the triggers act on it.
"""
import dataclasses
import json
from typing import Dict, List, Optional, Sequence

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

DRIFT = 'drift'
SKEW = 'skew'

_COMPARATOR_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: 'L-infinity',
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: 'Jensen-Shannon',
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: 'normalized diff',
}


@dataclasses.dataclass(frozen=True)
class Measurement:
  """One comparator's value for one feature, with the schema's threshold."""
  feature: str
  comparator: str
  value: float
  threshold: float

  @property
  def beyond(self) -> bool:
    return self.value > self.threshold

  def sentence(self) -> str:
    relation = '>' if self.beyond else '≤'
    return f'{self.feature} ({self.comparator} {self.value:.3f} {relation} {self.threshold:g})'

  def to_dict(self) -> Dict[str, object]:
    return {'feature': self.feature, 'comparator': self.comparator, 'value': self.value,
            'threshold': self.threshold, 'beyond': self.beyond}

  @classmethod
  def from_dict(cls, values: Dict[str, object]) -> 'Measurement':
    return cls(str(values['feature']), str(values['comparator']), float(values['value']),
               float(values['threshold']))


def _thresholds(schema: schema_pb2.Schema, kind: str) -> Dict[str, Dict[str, float]]:
  field = 'drift_comparator' if kind == DRIFT else 'skew_comparator'
  out: Dict[str, Dict[str, float]] = {}
  for feature in schema.feature:
    if not feature.HasField(field):
      continue
    comparator = getattr(feature, field)
    if comparator.HasField('infinity_norm'):
      out.setdefault(feature.name, {})['L-infinity'] = comparator.infinity_norm.threshold
    if comparator.HasField('jensen_shannon_divergence'):
      out.setdefault(feature.name, {})['Jensen-Shannon'] = (
          comparator.jensen_shannon_divergence.threshold)
  return out


def measure(current: statistics_pb2.DatasetFeatureStatisticsList,
            reference: statistics_pb2.DatasetFeatureStatisticsList,
            schema: schema_pb2.Schema, kind: str) -> List[Measurement]:
  """Every comparator the schema declares for `kind`, current against reference.

  Drift: `current` is the new data, `reference` the training window. Skew: `current`
  is what serving saw, `reference` the training data. Sorted by feature.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  if kind not in (DRIFT, SKEW):
    raise ValueError(f'kind must be {DRIFT!r} or {SKEW!r}, got {kind!r}')
  thresholds = _thresholds(schema, kind)
  if not thresholds:
    return []
  # Only the comparators: the data gate judges the rest of the schema separately, and a
  # serving log lacks the label, which the schema requires of training data.
  only_comparators = schema_pb2.Schema()
  field = 'drift_comparator' if kind == DRIFT else 'skew_comparator'
  for feature in schema.feature:
    if feature.name in thresholds:
      copy = only_comparators.feature.add(name=feature.name, type=feature.type)
      getattr(copy, field).CopyFrom(getattr(feature, field))
  if kind == DRIFT:
    anomalies = tfdv.validate_statistics(current, only_comparators, previous_statistics=reference)
  else:
    anomalies = tfdv.validate_statistics(reference, only_comparators, serving_statistics=current)
  found = []
  for info in anomalies.drift_skew_info:
    name = '.'.join(info.path.step)
    measurements = info.drift_measurements if kind == DRIFT else info.skew_measurements
    for m in measurements:
      comparator = _COMPARATOR_NAMES.get(m.type, str(m.type))
      threshold = thresholds.get(name, {}).get(comparator, m.threshold)
      found.append(Measurement(name, comparator, float(m.value), float(threshold)))
  return sorted(found, key=lambda m: (m.feature, m.comparator))


def beyond(measurements: Sequence[Measurement]) -> List[Measurement]:
  return [m for m in measurements if m.beyond]


def summary(measurements: Sequence[Measurement], kind: str) -> str:
  """One line: 'drift: <feature> (Jensen-Shannon 0.708 > 0.3), ...' or 'no drift'."""
  over = beyond(measurements)
  if not over:
    return f'no {kind}'
  return f'{kind}: ' + ', '.join(m.sentence() for m in over)


def to_json(measurements: Sequence[Measurement], **extra) -> str:
  return json.dumps({**extra, 'measurements': [m.to_dict() for m in measurements]}, indent=2,
                    sort_keys=True)


def from_json(text: str) -> List[Measurement]:
  return [Measurement.from_dict(m) for m in json.loads(text).get('measurements', [])]


def load_split_statistics(statistics_uri: str, split: str
                          ) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
  """A StatisticsGen artifact's statistics for one split (None when the split is absent)."""
  import os  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
  if not tf.io.gfile.exists(path):
    return None
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  with tf.io.gfile.GFile(path, 'rb') as f:
    stats.ParseFromString(f.read())
  return stats
