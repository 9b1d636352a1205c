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


def test_thresholds_are_checked():
  with pytest.raises(ValueError, match='min_auc'):
    Thresholds(min_auc=1.5)
