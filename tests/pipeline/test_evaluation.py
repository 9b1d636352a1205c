"""The blessing rules: the custom metric and where each threshold applies."""
import math

import pytest

from models.metrics import AccuracyLift
from pipeline import evaluation
from ctpipe.config import Thresholds
from tests.conftest import PROJECT

DATASET = PROJECT.dataset


def test_accuracy_lift_is_zero_for_the_majority_answer():
  lift = AccuracyLift()
  # Always "no": tn = negatives, fn = positives.
  assert lift.result(tp=0, tn=775, fp=0, fn=225) == 0.0
  assert math.isclose(lift.result(tp=200, tn=700, fp=75, fn=25), 0.9 - 0.775)
  assert math.isnan(lift.result(0, 0, 0, 0))


def test_every_threshold_names_its_slices():
  config = evaluation.eval_config(Thresholds(min_auc=0.93), DATASET)
  metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
  for metric in metrics.values():
    assert not metric.HasField('threshold'), metric.class_name  # would apply to every slice
  auc = metrics['AUC']
  overall_values = [t.threshold.value_threshold.lower_bound.value
                    for t in auc.per_slice_thresholds if t.threshold.HasField('value_threshold')]
  assert overall_values == [0.93]
  guarded = [s.feature_values for t in metrics['BinaryAccuracy'].per_slice_thresholds
             for s in t.slicing_specs if s.feature_values]
  assert {'payment_type': 'Cash'} in [dict(g) for g in guarded]
  slice_keys = [list(s.feature_keys) for s in config.slicing_specs]
  assert ['payment_type'] in slice_keys and ['trip_start_hour'] in slice_keys


def test_calibration_is_held_within_its_band_overall():
  config = evaluation.eval_config(Thresholds(max_calibration_error=0.08), DATASET)
  calibration = next(m for m in config.metrics_specs[0].metrics if m.class_name == 'Calibration')
  (guard,) = calibration.per_slice_thresholds
  assert [dict(s.feature_values) for s in guard.slicing_specs] == [{}]  # overall only
  bounds = guard.threshold.value_threshold
  assert math.isclose(bounds.lower_bound.value, 0.92) and math.isclose(bounds.upper_bound.value,
                                                                       1.08)


def test_thresholds_are_checked():
  with pytest.raises(ValueError, match='min_auc'):
    Thresholds(min_auc=1.5)


# --- multiclass and regression ------------------------------------------------------------

def _combine(metric, pairs, parts=1):
  """A metric's value from (label, prediction) pairs, split over `parts` accumulators the way
  Beam would combine them."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.metrics import metric_types  # pylint: disable=g-import-not-at-top
  computation = metric.computations(eval_config=tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='y')]))[0]
  combiner = computation.combiner
  accumulators = []
  for part in range(parts):
    accumulator = combiner.create_accumulator()
    for label, prediction in pairs[part::parts]:
      accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
          labels=np.array([label]), predictions=np.array(prediction, dtype=np.float64),
          example_weights=np.array([1.0])))
    accumulators.append(accumulator)
  return next(iter(combiner.extract_output(combiner.merge_accumulators(accumulators)).values()))


def test_multiclass_accuracy_and_its_lift_over_the_majority_class():
  from models import metrics  # pylint: disable=g-import-not-at-top
  # Labels 0, 0, 0, 1, 2: the majority class holds 3 of 5; the model gets 4 right.
  pairs = [(0, [0.8, 0.1, 0.1]), (0, [0.6, 0.3, 0.1]), (0, [0.2, 0.7, 0.1]),
           (1, [0.1, 0.8, 0.1]), (2, [0.1, 0.2, 0.7])]
  assert math.isclose(_combine(metrics.MulticlassAccuracy(), pairs, parts=2), 0.8)
  assert math.isclose(_combine(metrics.MulticlassAccuracyLift(), pairs), 0.8 - 0.6)


def test_rmse_and_its_lift_over_the_mean_predictor():
  from models import metrics  # pylint: disable=g-import-not-at-top
  labels = [1.0, 2.0, 3.0, 6.0]  # mean 3, spread sqrt(3.5)
  assert math.isclose(_combine(metrics.RmseLift(), [(y, [3.0]) for y in labels]), 0.0,
                      abs_tol=1e-12)  # the mean predictor itself
  assert math.isclose(_combine(metrics.RmseLift(), [(y, [y]) for y in labels], parts=3), 1.0)
  off_by_one = [(y, [y + 1.0]) for y in labels]
  assert math.isclose(_combine(metrics.RootMeanSquaredError(), off_by_one), 1.0)
  assert math.isclose(_combine(metrics.RmseLift(), off_by_one), 1 - 1 / math.sqrt(3.5))


def test_predicted_against_actual_bins_hold_every_example_and_merge_in_proportion(monkeypatch):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from models import metrics  # pylint: disable=g-import-not-at-top
  pairs = [(float(i) + 0.5, [float(i)]) for i in range(1000)]  # label = prediction + 0.5
  bins = _combine(metrics.PredictedVsActual(), pairs, parts=3)
  assert bins.shape == (10, 3) and math.isclose(bins[:, 2].sum(), 1.0)
  np.testing.assert_allclose(bins[:, 1] - bins[:, 0], 0.5)
  assert list(bins[:, 0]) == sorted(bins[:, 0])
  monkeypatch.setattr(metrics, 'PREDICTED_VS_ACTUAL_SAMPLE', 100)  # a sample, not every pair
  sampled = _combine(metrics.PredictedVsActual(), pairs, parts=3)
  np.testing.assert_allclose(sampled[:, 1] - sampled[:, 0], 0.5)
  assert 350 < sampled[:, 0].mean() < 650  # spread over the whole range, not its start


def test_each_task_is_judged_on_its_own_metrics():
  import dataclasses  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  multiclass = dataclasses.replace(DATASET, task='multiclass', classes=('a', 'b', 'c'),
                                   label_fn='', label_sources=(), guarded_slices=type(
                                       DATASET.guarded_slices)(accuracy={'payment_type': ()}))
  config = evaluation.eval_config(Thresholds(), multiclass)
  assert config.model_specs[0].prediction_key == 'probabilities'
  names = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
  assert 'AUC' not in names and {'MulticlassAccuracy', 'MulticlassAccuracyLift',
                                  'MultiClassConfusionMatrixPlot'} <= set(names)
  assert list(config.metrics_specs[1].binarize.class_ids.values) == [0, 1, 2]
  regression = dataclasses.replace(DATASET, task='regression', label='tips', label_fn='',
                                   label_sources=(), guarded_slices=type(
                                       DATASET.guarded_slices)(rmse={'payment_type': ()}))
  config = evaluation.eval_config(Thresholds(max_rmse_increase=0.07), regression)
  assert config.model_specs[0].prediction_key == 'tips'
  rmse = next(m for m in config.metrics_specs[0].metrics if m.class_name == 'RootMeanSquaredError')
  changes = [t.threshold.change_threshold for t in rmse.per_slice_thresholds]
  assert all(c.direction == tfma.MetricDirection.LOWER_IS_BETTER for c in changes)
  assert math.isclose(changes[0].relative.value, 0.07)
  with pytest.raises(ValueError, match='guarded_slices.auc: a regression model has no auc'):
    dataclasses.replace(regression, guarded_slices=type(DATASET.guarded_slices)(
        auc={'payment_type': ()}))
