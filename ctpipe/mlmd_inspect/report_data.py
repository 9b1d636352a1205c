"""What `ctpipe report` shows, read from a run's artifacts: statistics, anomalies, drift, evaluation.

TFDV and TFMA are imported here only, so the table commands of `inspect` stay quick.
Every reader returns plain Python values; missing artifacts give empty results, so
a report of a run stopped by the data gate (no evaluation) still renders.
"""
import dataclasses
import glob
import math
import os
import re
from typing import Dict, List, Optional, Tuple

SPLIT_PREFIX = 'Split-'
CALIBRATION_BINS = 10


@dataclasses.dataclass
class FeatureStats:
  name: str
  kind: str  # 'numeric' | 'string'
  count: int
  missing_fraction: float
  summary: str  # mean/std/min/max, or unique and top values


@dataclasses.dataclass
class Drift:
  feature: str
  measure: str  # 'L-infinity' | 'Jensen-Shannon'
  value: float


@dataclasses.dataclass
class SliceMetrics:
  slice_name: str
  candidate: Dict[str, float]
  baseline: Dict[str, float]


@dataclasses.dataclass
class Evaluation:
  overall: SliceMetrics
  slices: List[SliceMetrics]
  roc: Dict[str, List[Tuple[float, float]]]  # model -> (FPR, TPR)
  calibration: Dict[str, List[Tuple[float, float]]]  # model -> (mean prediction, mean label)
  validation_ok: Optional[bool]
  failures: List[str]


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
    elif feature.HasField('string_stats'):
      s = feature.string_stats
      common = s.common_stats
      top = ', '.join(f'{v.value} ({int(v.frequency)})' for v in s.top_values[:4])
      summary = f'{s.unique} unique; top: {top}'
      kind = 'string'
    else:
      continue
    rows.append(FeatureStats(name, kind, int(common.num_non_missing),
                             common.num_missing / total, summary))
  return rows


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


def _natural(text: str):
  """Sort key putting hour=2 before hour=10."""
  return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def _slice_name(slice_key) -> str:
  return 'all data' if not slice_key else ', '.join(f'{k}={v}' for k, v in slice_key)


def _metrics(values: dict) -> Dict[str, float]:
  out = {}
  for name, value in values.items():
    if isinstance(value, dict) and 'doubleValue' in value:
      out[name] = float(value['doubleValue'])
  return out


def _plots(result) -> Tuple[List[Tuple[float, float]], List[Tuple[float, float]]]:
  roc, calibration = [], []
  for slice_key, plots in result.plots:
    if slice_key != ():
      continue
    values = ((plots or {}).get('') or {}).get('') or {}
    for matrix in values.get('confusionMatrixAtThresholds', {}).get('matrices', []):
      tp, fp = matrix.get('truePositives', 0.0), matrix.get('falsePositives', 0.0)
      tn, fn = matrix.get('trueNegatives', 0.0), matrix.get('falseNegatives', 0.0)
      if tp + fn and fp + tn:
        roc.append((fp / (fp + tn), tp / (tp + fn)))
    # Calibration in ten bins of prediction (TFMA's finer buckets hold a few examples each).
    sums = [[0.0, 0.0, 0.0] for _ in range(CALIBRATION_BINS)]
    for bucket in values.get('calibrationHistogramBuckets', {}).get('buckets', []):
      n = bucket.get('numWeightedExamples', 0.0)
      if n:
        prediction = bucket.get('totalWeightedRefinedPrediction', 0.0)
        b = sums[min(CALIBRATION_BINS - 1, max(0, int(prediction / n * CALIBRATION_BINS)))]
        b[0], b[1], b[2] = b[0] + n, b[1] + prediction, b[2] + bucket.get('totalWeightedLabel', 0.0)
    calibration = [(p / n, label / n) for n, p, label in sums if n]
  return sorted(roc), sorted(calibration)


def evaluation(uri: str) -> Optional[Evaluation]:
  """Metrics overall and per slice, ROC and calibration points, and the validation outcome."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  try:
    candidate = tfma.load_eval_result(uri, model_name='candidate')
    baseline = tfma.load_eval_result(uri, model_name='baseline')
    if not candidate.slicing_metrics:
      raise ValueError('single model')
  except Exception:  # pylint: disable=broad-except
    candidate, baseline = tfma.load_eval_result(uri), None  # no baseline on a first run
  if not candidate.slicing_metrics:
    return None
  base_by_slice = {k: _metrics(v.get('', {}).get('', {}))
                   for k, v in (baseline.slicing_metrics if baseline else [])}
  slices = []
  overall = None
  for slice_key, values in candidate.slicing_metrics:
    row = SliceMetrics(_slice_name(slice_key), _metrics(values.get('', {}).get('', {})),
                       base_by_slice.get(slice_key, {}))
    if slice_key == ():
      overall = row
    else:
      slices.append(row)
  roc, calibration = {}, {}
  for name, result in (('candidate', candidate), ('baseline', baseline)):
    if result is not None:
      roc[name], calibration[name] = _plots(result)
  validation = tfma.load_validation_result(uri)
  failures = []
  for per_slice in validation.metric_validations_per_slice:
    key = tfma.slicer.deserialize_slice_key(per_slice.slice_key)
    for failure in per_slice.failures:
      value = (failure.metric_value.double_value.value
               if failure.metric_value.HasField('double_value') else math.nan)
      failures.append(f'{failure.metric_key.name} on {_slice_name(key)} = {value:.4f}: '
                      f'{failure.message}')
  slices.sort(key=lambda s: _natural(s.slice_name))
  return Evaluation(overall or SliceMetrics('all data', {}, {}), slices, roc, calibration,
                    validation.validation_ok, failures)


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
