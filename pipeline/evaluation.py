"""The Evaluator's judgement: metrics, slices and the thresholds that decide a blessing.

Per task (the data set's `task`):
- binary: AUC >= min_auc, accuracy above the evaluation data's majority rate
  (AccuracyLift > min_accuracy_lift) and calibration (mean prediction / mean label) within
  1 ± max_calibration_error; against the baseline, overall AUC and accuracy and
  per guarded slice (`guarded_slices`: accuracy on some, AUC on those where both classes
  occur);
- multiclass: accuracy above the majority class's share; against the baseline, overall
  accuracy and per guarded slice; per-class precision and recall and a confusion matrix
  are reported;
- regression: RMSE below the mean predictor's (RmseLift > min_rmse_lift); against the
  baseline, RMSE at most `max_rmse_increase` higher (relative), per guarded slice
  `max_slice_rmse_increase`; MAE reported.
TFMA skips change thresholds when there is no baseline, so the first run is judged on
value thresholds alone.
"""
import json
from typing import List

import tensorflow_model_analysis as tfma

from ctpipe.config import DataSet, Thresholds
from models import metrics, outputs, signatures

HIGHER = tfma.MetricDirection.HIGHER_IS_BETTER
LOWER = tfma.MetricDirection.LOWER_IS_BETTER

# Fewer than TFMA's defaults (10,000 AUC thresholds, 1,000 calibration buckets), which
# dominate the Evaluator's time: 1,000 thresholds move AUC by about 2e-4, far inside
# any threshold here, and 100 buckets are finer than the plot can show.
AUC_THRESHOLDS = 1000
CALIBRATION_BUCKETS = 100
ROC_THRESHOLDS = 100

def _not_worse_than_baseline(max_drop: float) -> tfma.MetricThreshold:
  return tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
      direction=HIGHER, absolute={'value': -max_drop}))


def _at_most_relatively_worse(max_increase: float) -> tfma.MetricThreshold:
  """A lower-is-better metric at most `max_increase` (a share) above the baseline's."""
  return tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
      direction=LOWER, relative={'value': max_increase}))


def _above(minimum: float) -> tfma.MetricThreshold:
  """Strictly above `minimum` (TFMA's bounds are inclusive)."""
  return tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
      lower_bound={'value': minimum + 1e-9}))


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
  """The TFMA EvalConfig the Evaluator runs with, for the data set's task.

  Every threshold names its slices: TFMA applies a bare `MetricConfig.threshold` to
  every slice, tiny ones included (one "Dispute" trip would decide a blessing).
  """
  metrics_specs = {outputs.BINARY: _binary_metrics, outputs.MULTICLASS: _multiclass_metrics,
                   outputs.REGRESSION: _regression_metrics}[dataset.task](thresholds, dataset)
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name=signatures.DEFAULT_SIGNATURE,
          preprocessing_function_names=[signatures.LABEL_SIGNATURE],
          label_key=dataset.label,
          prediction_key=outputs.score_key(dataset.task, dataset.label))],
      slicing_specs=slicing_specs(dataset),
      metrics_specs=metrics_specs)


def _binary_metrics(thresholds: Thresholds, dataset: DataSet) -> List[tfma.MetricsSpec]:
  overall = [tfma.SlicingSpec()]
  accuracy_slices = _guarded(dataset.guarded_slices.accuracy)
  auc_slices = _guarded(dataset.guarded_slices.auc)
  return [tfma.MetricsSpec(metrics=[
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
                        per_slice_thresholds=_on(overall, _above(thresholds.min_accuracy_lift))),
      tfma.MetricConfig(class_name='Precision'),
      tfma.MetricConfig(class_name='Recall'),
      tfma.MetricConfig(class_name='Calibration', per_slice_thresholds=_on(
          overall, tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
              lower_bound={'value': 1 - thresholds.max_calibration_error},
              upper_bound={'value': 1 + thresholds.max_calibration_error})))),
      tfma.MetricConfig(class_name='CalibrationPlot',
                        config=json.dumps({'num_buckets': CALIBRATION_BUCKETS})),
      # The ROC curve of the report (`ctpipe report`).
      tfma.MetricConfig(class_name='ConfusionMatrixPlot',
                        config=json.dumps({'num_thresholds': ROC_THRESHOLDS})),
      tfma.MetricConfig(class_name='MeanLabel'),
      tfma.MetricConfig(class_name='MeanPrediction'),
  ])]


def _multiclass_metrics(thresholds: Thresholds, dataset: DataSet) -> List[tfma.MetricsSpec]:
  overall = [tfma.SlicingSpec()]
  accuracy_slices = _guarded(dataset.guarded_slices.accuracy)
  return [
      tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name='ExampleCount'),
          tfma.MetricConfig(class_name='MulticlassAccuracy', module=metrics.__name__,
                            per_slice_thresholds=[
                                *_on(overall, _not_worse_than_baseline(
                                    thresholds.max_accuracy_drop)),
                                *_on(accuracy_slices, _not_worse_than_baseline(
                                    thresholds.max_slice_accuracy_drop))]),
          tfma.MetricConfig(class_name='MulticlassAccuracyLift', module=metrics.__name__,
                            per_slice_thresholds=_on(overall,
                                                     _above(thresholds.min_accuracy_lift))),
          # The confusion matrix of the report (`ctpipe report`).
          tfma.MetricConfig(class_name='MultiClassConfusionMatrixPlot'),
      ]),
      # Precision and recall of each class against the others.
      tfma.MetricsSpec(
          metrics=[tfma.MetricConfig(class_name='Precision'),
                   tfma.MetricConfig(class_name='Recall')],
          binarize=tfma.BinarizationOptions(class_ids={'values': list(range(
              len(dataset.classes)))})),
  ]


def _regression_metrics(thresholds: Thresholds, dataset: DataSet) -> List[tfma.MetricsSpec]:
  overall = [tfma.SlicingSpec()]
  rmse_slices = _guarded(dataset.guarded_slices.rmse)
  return [tfma.MetricsSpec(metrics=[
      tfma.MetricConfig(class_name='ExampleCount'),
      tfma.MetricConfig(class_name='RootMeanSquaredError', module=metrics.__name__,
                        per_slice_thresholds=[
                            *_on(overall, _at_most_relatively_worse(thresholds.max_rmse_increase)),
                            *_on(rmse_slices, _at_most_relatively_worse(
                                thresholds.max_slice_rmse_increase))]),
      tfma.MetricConfig(class_name='RmseLift', module=metrics.__name__,
                        per_slice_thresholds=_on(overall, _above(thresholds.min_rmse_lift))),
      tfma.MetricConfig(class_name='MeanAbsoluteError'),
      tfma.MetricConfig(class_name='MeanLabel'),
      tfma.MetricConfig(class_name='MeanPrediction'),
      # The report's predicted-against-actual and residual charts (`ctpipe report`).
      tfma.MetricConfig(class_name='PredictedVsActual', module=metrics.__name__),
  ])]
