"""Custom TFMA metrics, referenced from the EvalConfig by module path (`models.metrics`)."""
import math
from typing import Dict, Iterable, Mapping, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import confusion_matrix_metrics, metric_types, metric_util

ACCURACY_LIFT_NAME = 'accuracy_lift'


class AccuracyLift(confusion_matrix_metrics.ConfusionMatrixMetric):
  """Accuracy minus the majority-class rate of the same examples.

  A classifier that always answers the majority class scores 0; TFX's taxi example,
  which always predicts "no big tip", scores exactly that. A value threshold of > 0
  means "accuracy above the evaluation data's majority rate" on every evaluation.
  """

  def __init__(self, threshold: Optional[float] = None, name: Optional[str] = None):
    super().__init__(thresholds=threshold, name=name)

  def _default_name(self) -> str:
    return ACCURACY_LIFT_NAME

  def result(self, tp: float, tn: float, fp: float, fn: float) -> float:
    total = tp + tn + fp + fn
    if total <= 0:
      return float('nan')
    return (tp + tn - max(tp + fn, tn + fp)) / total


# --- multiclass and regression ------------------------------------------------------------
# One small combiner for both: per-example sums, then a closed form. TFMA has no
# multiclass top-1 accuracy of its own outside Keras metrics, and no RMSE nor a
# comparison with the mean predictor.

MULTICLASS_ACCURACY_NAME = 'accuracy'
RMSE_NAME = 'rmse'
RMSE_LIFT_NAME = 'rmse_lift'


class _SumsCombiner(beam.CombineFn):
  """Sums over examples for one metric; `kind` names the metric's closed form."""

  def __init__(self, key: metric_types.MetricKey, eval_config, kind: str):
    self._key = key
    self._eval_config = eval_config
    self._kind = kind

  def create_accumulator(self) -> Dict[str, float]:
    return {}

  def add_input(self, sums: Dict[str, float], element) -> Dict[str, float]:
    for label, prediction, _ in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, flatten=False, allow_none=False):
      label = np.asarray(label, dtype=np.float64).reshape(-1)
      prediction = np.asarray(prediction, dtype=np.float64).reshape(-1)
      sums['n'] = sums.get('n', 0.0) + 1.0
      if self._kind == 'classes':  # sparse label (an index) or one-hot, class probabilities
        truth = int(label[0]) if label.size == 1 else int(np.argmax(label))
        sums['correct'] = sums.get('correct', 0.0) + float(int(np.argmax(prediction)) == truth)
        sums[f'class_{truth}'] = sums.get(f'class_{truth}', 0.0) + 1.0
      else:
        y, p = float(label[0]), float(prediction[0])
        sums['y'] = sums.get('y', 0.0) + y
        sums['yy'] = sums.get('yy', 0.0) + y * y
        sums['ee'] = sums.get('ee', 0.0) + (y - p) * (y - p)
    return sums

  def merge_accumulators(self, accumulators: Iterable[Dict[str, float]]) -> Dict[str, float]:
    merged: Dict[str, float] = {}
    for sums in accumulators:
      for name, value in sums.items():
        merged[name] = merged.get(name, 0.0) + value
    return merged

  def extract_output(self, sums: Dict[str, float]) -> Dict[metric_types.MetricKey, float]:
    return {self._key: _closed_form(self._kind, self._key.name, sums)}


def _closed_form(kind: str, name: str, sums: Mapping[str, float]) -> float:
  n = sums.get('n', 0.0)
  if not n:
    return float('nan')
  if kind == 'classes':
    correct = sums.get('correct', 0.0)
    if name == ACCURACY_LIFT_NAME:
      majority = max(v for k, v in sums.items() if k.startswith('class_'))
      return (correct - majority) / n
    return correct / n
  rmse = math.sqrt(sums['ee'] / n)
  if name == RMSE_LIFT_NAME:
    mean = sums['y'] / n
    spread = math.sqrt(max(sums['yy'] / n - mean * mean, 0.0))
    return 1.0 - rmse / spread if spread > 0 else float('nan')
  return rmse


def _sums_metric(kind: str):
  def computations(name: str, eval_config=None, model_name: str = '', output_name: str = '',
                   sub_key=None, example_weighted: bool = False, **unused):
    if sub_key is not None or example_weighted:
      raise ValueError(f'{name}: no sub keys (binarization) and no example weights')
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
    return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                           combiner=_SumsCombiner(key, eval_config, kind))]
  return metric_util.merge_per_key_computations(computations)


class MulticlassAccuracy(metric_types.Metric):
  """Share of examples whose most probable class is the label."""

  def __init__(self, name: str = MULTICLASS_ACCURACY_NAME):
    super().__init__(_sums_metric('classes'), name=name)


class MulticlassAccuracyLift(metric_types.Metric):
  """Multiclass accuracy minus the majority class's share of the same examples (0: no better
  than always answering the most frequent class)."""

  def __init__(self, name: str = ACCURACY_LIFT_NAME):
    super().__init__(_sums_metric('classes'), name=name)


class RootMeanSquaredError(metric_types.Metric):

  def __init__(self, name: str = RMSE_NAME):
    super().__init__(_sums_metric('values'), name=name)


class RmseLift(metric_types.Metric):
  """1 - RMSE / the RMSE of always answering the examples' mean label (> 0: better than the
  mean predictor)."""

  def __init__(self, name: str = RMSE_LIFT_NAME):
    super().__init__(_sums_metric('values'), name=name)


PREDICTED_VS_ACTUAL_NAME = 'predicted_vs_actual'
PREDICTED_VS_ACTUAL_BINS = 10
# Pairs kept for the bins: a uniform sample beyond this many (reservoir sampling, seeded).
PREDICTED_VS_ACTUAL_SAMPLE = 20_000


class _PredictedVsActualCombiner(beam.CombineFn):
  """A seeded uniform sample of (prediction, label) pairs, then equal-count bins of the
  prediction: each bin's mean prediction, mean label and share of the examples."""

  def __init__(self, key: metric_types.MetricKey, eval_config):
    self._key = key
    self._eval_config = eval_config

  def create_accumulator(self):
    return {'seen': 0, 'pairs': []}

  def _keep(self, sample, pair) -> None:
    sample['seen'] += 1
    if len(sample['pairs']) < PREDICTED_VS_ACTUAL_SAMPLE:
      sample['pairs'].append(pair)
      return
    slot = np.random.default_rng(sample['seen']).integers(0, sample['seen'])
    if slot < PREDICTED_VS_ACTUAL_SAMPLE:
      sample['pairs'][slot] = pair

  def add_input(self, sample, element):
    for label, prediction, _ in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, flatten=False, allow_none=False):
      self._keep(sample, (float(np.ravel(prediction)[0]), float(np.ravel(label)[0])))
    return sample

  def merge_accumulators(self, accumulators):
    """Over the cap, each part keeps pairs in proportion to the examples it saw (seeded)."""
    parts = [a for a in accumulators if a['seen']]
    seen = sum(a['seen'] for a in parts)
    pairs = [pair for a in parts for pair in a['pairs']]
    if len(pairs) <= PREDICTED_VS_ACTUAL_SAMPLE:
      return {'seen': seen, 'pairs': pairs}
    rng = np.random.default_rng(seen)
    kept = []
    for a in parts:
      share = min(len(a['pairs']), round(PREDICTED_VS_ACTUAL_SAMPLE * a['seen'] / seen))
      kept.extend(a['pairs'][i] for i in rng.choice(len(a['pairs']), share, replace=False))
    return {'seen': seen, 'pairs': kept}

  def extract_output(self, sample):
    pairs = np.array(sorted(sample['pairs']), dtype=np.float64).reshape(-1, 2)
    bins = [b for b in np.array_split(pairs, min(PREDICTED_VS_ACTUAL_BINS, len(pairs))) if len(b)]
    rows = [[float(b[:, 0].mean()), float(b[:, 1].mean()), len(b) / len(pairs)] for b in bins]
    return {self._key: np.array(rows, dtype=np.float64).reshape(-1, 3)}


class PredictedVsActual(metric_types.Metric):
  """Regression: ten equal-count bins of the prediction, each as [mean prediction, mean
  label, share of examples] (an array value; the report's predicted-against-actual and
  residual charts)."""

  def __init__(self, name: str = PREDICTED_VS_ACTUAL_NAME):
    def computations(name: str, eval_config=None, model_name: str = '', output_name: str = '',
                     sub_key=None, example_weighted: bool = False, **unused):
      if sub_key is not None or example_weighted:
        raise ValueError(f'{name}: no sub keys and no example weights')
      key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
      return [metric_types.MetricComputation(
          keys=[key], preprocessors=None, combiner=_PredictedVsActualCombiner(key, eval_config))]
    super().__init__(metric_util.merge_per_key_computations(computations), name=name)
