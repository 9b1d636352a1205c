"""A TFMA evaluation, read once for everyone: the run summary, the continuous loop, inspect
and the report all take their metrics, curves and failures from `read`.

Works on any TFX Evaluator output (a candidate with or without a baseline). TFMA is
imported when a result is read, not before.
"""
import dataclasses
import re
from typing import Any, Dict, List, Optional, Tuple

CALIBRATION_BINS = 10


@dataclasses.dataclass
class SliceMetrics:
  slice_name: str
  candidate: Dict[str, float]
  baseline: Dict[str, float]


@dataclasses.dataclass(frozen=True)
class Failure:
  """A threshold the candidate failed, on one slice."""
  slice_name: str
  metric: str
  value: Optional[float]
  message: str

  def sentence(self) -> str:
    shown = 'n/a' if self.value is None else f'{self.value:.4f}'
    return f'{self.metric} on {self.slice_name} = {shown}: {self.message}'.rstrip(': ')


@dataclasses.dataclass
class Evaluation:
  overall: SliceMetrics
  slices: List[SliceMetrics]
  roc: Dict[str, List[Tuple[float, float]]]  # model -> (FPR, TPR)
  calibration: Dict[str, List[Tuple[float, float]]]  # model -> (mean prediction, mean label)
  validation_ok: Optional[bool]
  threshold_failures: List[Failure]
  # Multiclass: model -> examples per (actual class, predicted class), class ids as indices.
  confusion: Dict[str, List[List[float]]] = dataclasses.field(default_factory=dict)
  # Multiclass: the candidate's per-class metrics, class id -> {precision, recall}.
  per_class: Dict[int, Dict[str, float]] = dataclasses.field(default_factory=dict)
  # Regression: model -> bins of the prediction as (mean prediction, mean label, share).
  predicted_vs_actual: Dict[str, List[Tuple[float, float, float]]] = dataclasses.field(
      default_factory=dict)
  config: Any = None  # the EvalConfig the Evaluator ran with (ctpipe.decision reads it)

  @property
  def failures(self) -> List[str]:
    return [f.sentence() for f in self.threshold_failures]


def slice_name(slice_key) -> str:
  return 'all data' if not slice_key else ', '.join(f'{k}={v}' for k, v in slice_key)


def _spec_name(spec) -> str:
  """A SlicingSpec proto as 'feature=value, feature' ('all data' for the overall slice)."""
  parts = [f'{k}={v}' for k, v in sorted(spec.feature_values.items())] + list(spec.feature_keys)
  return ', '.join(parts) or 'all data'


def _natural(text: str):
  """Sort key putting hour=2 before hour=10."""
  return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def _metrics(values: dict) -> Dict[str, float]:
  """A slice's scalar metrics; AUC is NaN (undefined) where the slice holds one class only
  (TFMA writes 0 there, which reads as the worst possible ranking)."""
  found = {name: float(value['doubleValue']) for name, value in values.items()
           if isinstance(value, dict) and 'doubleValue' in value}
  if 'auc' in found and found.get('mean_label') in (0.0, 1.0):
    found['auc'] = float('nan')
  return found


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


def _confusion(result) -> List[List[float]]:
  """The overall multiclass confusion matrix (rows: actual class, columns: predicted)."""
  for slice_key, plots in result.plots:
    if slice_key != ():
      continue
    values = ((plots or {}).get('') or {}).get('') or {}
    matrices = values.get('multiClassConfusionMatrixAtThresholds', {}).get('matrices', [])
    if not matrices:
      return []
    entries = [(int(e.get('actualClassId', 0)), int(e.get('predictedClassId', 0)),
                float(e.get('numWeightedExamples', 0.0))) for e in matrices[0].get('entries', [])]
    size = 1 + max([max(a, p) for a, p, _ in entries] or [0])
    matrix = [[0.0] * size for _ in range(size)]
    for actual, predicted, count in entries:
      if actual >= 0 and predicted >= 0:
        matrix[actual][predicted] += count
    return matrix
  return []


def _bins(values: dict, name: str) -> List[Tuple[float, float, float]]:
  """An array metric of rows of three (e.g. predicted_vs_actual), as tuples."""
  array = (values.get(name) or {}).get('arrayValue') or {}
  flat = array.get('float64Values') or []
  return [tuple(float(v) for v in flat[i:i + 3]) for i in range(0, len(flat) - 2, 3)]


def _per_class(values: dict) -> Dict[int, Dict[str, float]]:
  return {int(key.split(':', 1)[1]): _metrics(metrics) for key, metrics in values.items()
          if key.startswith('classId:')}


def _load(uri: str):
  """(candidate result, baseline result or None): a first run has no baseline."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  try:
    candidate = tfma.load_eval_result(uri, model_name='candidate')
    if candidate.slicing_metrics:
      return candidate, tfma.load_eval_result(uri, model_name='baseline')
  except Exception:  # pylint: disable=broad-except
    pass  # a single-model evaluation stores its metrics without a model name
  return tfma.load_eval_result(uri), None


def read(uri: str) -> Optional[Evaluation]:
  """Metrics overall and per slice, ROC and calibration points, and the validation outcome
  (None when the output holds no metrics)."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  candidate, baseline = _load(uri)
  if not candidate.slicing_metrics:
    return None
  base_by_slice = {k: _metrics(v.get('', {}).get('', {}))
                   for k, v in (baseline.slicing_metrics if baseline else [])}
  slices = []
  overall = None
  for slice_key, values in candidate.slicing_metrics:
    row = SliceMetrics(slice_name(slice_key), _metrics(values.get('', {}).get('', {})),
                       base_by_slice.get(slice_key, {}))
    if slice_key == ():
      overall = row
    else:
      slices.append(row)
  roc, calibration, confusion, binned = {}, {}, {}, {}
  per_class: Dict[int, Dict[str, float]] = {}
  for name, result in (('candidate', candidate), ('baseline', baseline)):
    if result is None:
      continue
    roc[name], calibration[name] = _plots(result)
    matrix = _confusion(result)
    if matrix:
      confusion[name] = matrix
    for slice_key, values in result.slicing_metrics:
      if slice_key == ():
        found = _bins(values.get('', {}).get('', {}), 'predicted_vs_actual')
        if found:
          binned[name] = found
        if name == 'candidate':
          per_class = _per_class(values.get('', {}))
  validation = tfma.load_validation_result(uri)
  failures = []
  for per_slice in validation.metric_validations_per_slice:
    key = tfma.slicer.deserialize_slice_key(per_slice.slice_key)
    for failure in per_slice.failures:
      value = (failure.metric_value.double_value.value
               if failure.metric_value.HasField('double_value') else None)
      failures.append(Failure(slice_name(key), failure.metric_key.name, value, failure.message))
  for missing in validation.missing_slices:  # a guarded slice with no examples fails too
    failures.append(Failure(_spec_name(missing), 'slice', None,
                            'no evaluation examples in this guarded slice'))
  slices.sort(key=lambda s: _natural(s.slice_name))
  return Evaluation(overall or SliceMetrics('all data', {}, {}), slices, roc, calibration,
                    validation.validation_ok, failures, confusion, per_class, binned,
                    candidate.config)
