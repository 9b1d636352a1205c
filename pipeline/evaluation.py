"""The Evaluator's judgement: metrics, slices and the thresholds that decide a blessing.

Overall value thresholds: AUC >= min_auc and accuracy above the evaluation data's
majority rate (AccuracyLift > min_accuracy_lift). Change thresholds against the
baseline (latest blessed model): overall AUC and accuracy, and per guarded slice
(the data set's `guarded_slices`: accuracy on some, AUC on those where both classes
occur). TFMA skips change thresholds when there is no baseline, so the first run is
judged on value thresholds alone.
"""
import json
from typing import List

import tensorflow_model_analysis as tfma

from ctpipe.config import DataSet, Thresholds
from models import metrics, signatures

HIGHER = tfma.MetricDirection.HIGHER_IS_BETTER

# Fewer than TFMA's defaults (10,000 AUC thresholds, 1,000 calibration buckets), which
# dominate the Evaluator's time: 1,000 thresholds move AUC by about 2e-4, far inside
# any threshold here, and 100 buckets are finer than the plot can show.
AUC_THRESHOLDS = 1000
CALIBRATION_BUCKETS = 100
ROC_THRESHOLDS = 100

def _not_worse_than_baseline(max_drop: float) -> tfma.MetricThreshold:
  return tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
      direction=HIGHER, absolute={'value': -max_drop}))


def slicing_specs(dataset: DataSet) -> List[tfma.SlicingSpec]:
  return [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[name])
                                 for name in dataset.slices]


def _guarded(guards) -> List[tfma.SlicingSpec]:
  """Slicing specs of guarded slices: each listed value, or the feature's every value."""
  specs = []
  for feature, values in guards.items():
    if values:
      specs.extend(tfma.SlicingSpec(feature_values={feature: value}) for value in values)
    else:
      specs.append(tfma.SlicingSpec(feature_keys=[feature]))
  return specs


def _on(slicing_specs: List[tfma.SlicingSpec], threshold: tfma.MetricThreshold
        ) -> List[tfma.PerSliceMetricThreshold]:
  """The threshold on these slices; none when there is no slice to guard."""
  if not slicing_specs:
    return []
  return [tfma.PerSliceMetricThreshold(slicing_specs=slicing_specs, threshold=threshold)]


def eval_config(thresholds: Thresholds, dataset: DataSet) -> tfma.EvalConfig:
  """The TFMA EvalConfig the Evaluator runs with.

  Every threshold names its slices: TFMA applies a bare `MetricConfig.threshold` to
  every slice, tiny ones included (one "Dispute" trip would decide a blessing).
  """
  overall = [tfma.SlicingSpec()]
  accuracy_slices = _guarded(dataset.guarded_slices.accuracy)
  auc_slices = _guarded(dataset.guarded_slices.auc)
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name=signatures.DEFAULT_SIGNATURE,
          preprocessing_function_names=[signatures.LABEL_SIGNATURE],
          label_key=dataset.label,
          prediction_key=signatures.PROBABILITY_KEY)],
      slicing_specs=slicing_specs(dataset),
      metrics_specs=[tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name='ExampleCount'),
          tfma.MetricConfig(
              class_name='AUC', config=json.dumps({'num_thresholds': AUC_THRESHOLDS}),
              per_slice_thresholds=[
                  *_on(overall, tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                      lower_bound={'value': thresholds.min_auc}))),
                  *_on(overall, _not_worse_than_baseline(thresholds.max_auc_drop)),
                  *_on(auc_slices, _not_worse_than_baseline(thresholds.max_slice_auc_drop)),
              ]),
          tfma.MetricConfig(class_name='BinaryAccuracy', per_slice_thresholds=[
              *_on(overall, _not_worse_than_baseline(thresholds.max_accuracy_drop)),
              *_on(accuracy_slices, _not_worse_than_baseline(thresholds.max_slice_accuracy_drop)),
          ]),
          tfma.MetricConfig(class_name='AccuracyLift', module=metrics.__name__,
                            per_slice_thresholds=_on(overall, tfma.MetricThreshold(
                                value_threshold=tfma.GenericValueThreshold(
                                    lower_bound={'value': thresholds.min_accuracy_lift + 1e-9})))),
          tfma.MetricConfig(class_name='Precision'),
          tfma.MetricConfig(class_name='Recall'),
          tfma.MetricConfig(class_name='Calibration'),
          tfma.MetricConfig(class_name='CalibrationPlot',
                            config=json.dumps({'num_buckets': CALIBRATION_BUCKETS})),
          # The ROC curve of the report (`ctpipe report`).
          tfma.MetricConfig(class_name='ConfusionMatrixPlot',
                            config=json.dumps({'num_thresholds': ROC_THRESHOLDS})),
          tfma.MetricConfig(class_name='MeanLabel'),
          tfma.MetricConfig(class_name='MeanPrediction'),
      ])])
