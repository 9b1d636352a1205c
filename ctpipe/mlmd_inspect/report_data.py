"""What `ctpipe report` shows, read from a run's artifacts: statistics, anomalies, drift, evaluation.

TFDV and TFMA are imported here only, so the table commands of `inspect` stay quick.
Every reader returns plain Python values; missing artifacts give empty results, so
a report of a run stopped by the data gate (no evaluation) still renders.
"""
import dataclasses
import glob
import os
from typing import List, Optional, Tuple

from ctpipe import tfma_results
from ctpipe.tfma_results import Evaluation, SliceMetrics

__all__ = ['Evaluation', 'SliceMetrics']

SPLIT_PREFIX = 'Split-'


@dataclasses.dataclass
class FeatureStats:
  name: str
  kind: str  # 'numeric' | 'string'
  count: int
  missing_fraction: float
  summary: str  # mean/std/min/max, or unique and top values
  # The distribution, as (bucket or value, share of the present values): a numeric
  # feature's standard histogram, a string feature's top values.
  distribution: List[Tuple[str, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Drift:
  feature: str
  measure: str  # 'L-infinity' | 'Jensen-Shannon'
  value: float


def splits(uri: str) -> List[str]:
  return sorted(os.path.basename(p)[len(SPLIT_PREFIX):]
                for p in glob.glob(os.path.join(uri, SPLIT_PREFIX + '*')))


def load_statistics(uri: str, split: str):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_stats_binary(os.path.join(uri, SPLIT_PREFIX + split, 'FeatureStats.pb'))


def feature_stats(statistics) -> List[FeatureStats]:
  rows = []
  if not statistics.datasets:
    return rows
  dataset = statistics.datasets[0]
  total = dataset.num_examples or 1
  for feature in sorted(dataset.features, key=lambda f: f.path.step[-1] if f.path.step else ''):
    name = '.'.join(feature.path.step) or feature.name
    if feature.HasField('num_stats'):
      s = feature.num_stats
      common = s.common_stats
      summary = (f'mean {s.mean:.4g}, std {s.std_dev:.4g}, min {s.min:.4g}, '
                 f'max {s.max:.4g}, zeros {s.num_zeros}')
      kind = 'numeric'
      distribution = _histogram(s)
    elif feature.HasField('string_stats'):
      s = feature.string_stats
      common = s.common_stats
      top = ', '.join(f'{v.value} ({int(v.frequency)})' for v in s.top_values[:4])
      summary = f'{s.unique} unique; top: {top}'
      kind = 'string'
      present = common.num_non_missing or 1
      distribution = [(str(v.value), v.frequency / present) for v in s.top_values[:8]]
    else:
      continue
    rows.append(FeatureStats(name, kind, int(common.num_non_missing),
                             common.num_missing / total, summary, distribution))
  return rows


def _histogram(num_stats) -> List[Tuple[str, float]]:
  """A numeric feature's standard (equal-width) histogram as (range, share) pairs."""
  for histogram in num_stats.histograms:
    if histogram.type == histogram.STANDARD and histogram.buckets:
      total = sum(b.sample_count for b in histogram.buckets) or 1.0
      return [(f'{b.low_value:.4g}–{b.high_value:.4g}', b.sample_count / total)
              for b in histogram.buckets]
  return []


def anomalies_table_html(uri: str, split: str) -> str:
  """TFDV's own table of a split's anomalies (its pandas rendering), or '' when clean."""
  from tensorflow_data_validation.utils import anomalies_util, display_util  # pylint: disable=g-import-not-at-top
  path = os.path.join(uri, SPLIT_PREFIX + split, 'SchemaDiff.pb')
  if not os.path.exists(path):
    return ''
  anomalies = anomalies_util.load_anomalies_binary(path)
  if not anomalies.anomaly_info and not anomalies.HasField('dataset_anomaly_info'):
    return ''
  return display_util.get_anomalies_dataframe(anomalies).to_html(classes='data', border=0)


def drift(current, previous) -> List[Drift]:
  """Per-feature distance between two spans' statistics, computed by TFDV's comparators.

  L-infinity for string features, Jensen–Shannon divergence for numeric ones; the
  thresholds are set to 0 so TFDV reports the measured value of every feature.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  schema = tfdv.infer_schema(current)
  for feature in schema.feature:
    if feature.type == 1:  # BYTES
      feature.drift_comparator.infinity_norm.threshold = 0.0
    else:
      feature.drift_comparator.jensen_shannon_divergence.threshold = 0.0
  anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
  found = []
  for info in anomalies.drift_skew_info:
    name = '.'.join(info.path.step)
    for measurement in info.drift_measurements:
      measure = ('L-infinity' if measurement.type == measurement.L_INFTY else
                 'Jensen-Shannon' if measurement.type == measurement.JENSEN_SHANNON_DIVERGENCE
                 else str(measurement.type))
      found.append(Drift(name, measure, float(measurement.value)))
  return sorted(found, key=lambda d: -d.value)


def evaluation(uri: str) -> Optional[Evaluation]:
  """The evaluation as the report shows it (`ctpipe.tfma_results.read`)."""
  return tfma_results.read(uri)


@dataclasses.dataclass(frozen=True)
class DriftMeasure:
  """One line of a drift report: a feature, its comparator, the distance and its threshold."""
  feature: str
  comparator: str
  value: float
  threshold: float


def drift_report(uri: str, file_name: str = 'drift.json') -> List[DriftMeasure]:
  """The measurements in a drift report artifact (`{"measurements": [{feature, comparator,
  value, threshold}, ...]}`), read as a file format, not through the component's code."""
  import json  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(os.path.join(uri, file_name)) as f:
    found = json.loads(f.read()).get('measurements', [])
  return [DriftMeasure(str(m['feature']), str(m['comparator']), float(m['value']),
                       float(m['threshold'])) for m in found]


def drift_reference(uri: str, file_name: str = 'drift.json') -> Optional[str]:
  """The statistics a drift report compared with (their artifact's URI), if it names them."""
  import json  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(os.path.join(uri, file_name)) as f:
    return json.loads(f.read()).get('reference')


def distributions(uri: str, split: str) -> dict:
  """Feature name -> FeatureStats of one split of a statistics artifact ({} when its files
  are gone)."""
  if not os.path.exists(os.path.join(uri, SPLIT_PREFIX + split)):
    return {}
  return {f.name: f for f in feature_stats(load_statistics(uri, split))}
