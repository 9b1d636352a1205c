"""TFMA's metrics, plots and validation for whole slices at once, in this process.

TFMA's Evaluator (on Beam) sends every example through its combiners one at a time:
Python per example and slice set, most of it in `to_label_prediction_example_weight`
and the four base combiners' `add_input`. The
metrics we configure all rest on those four combiners (example count, calibration
histogram, binary confusion matrices, weighted labels/predictions/examples). Here their
accumulators are filled from a slice's label and prediction arrays with numpy, doing the
same arithmetic TFMA does per example (same tuples, same bucket formula, sums in the same
order). Everything around them is TFMA's own code: the computations built from the
EvalConfig, the combiners' `extract_output`, derived metrics, baseline diffs, the slicer,
threshold validation, and the protos written.

Only what these functions reproduce exactly is accepted; `unsupported_reason` names
anything else (another combiner, sub keys, class weights, example weights, confidence
intervals, cross slices, ...) so the caller can run TFMA's Beam pipeline instead.
"""
import dataclasses
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as mpv
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import (binary_confusion_matrices, calibration,
                                               calibration_histogram, example_count,
                                               metric_specs, metric_types, metric_util)
from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.utils import model_util
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

SliceKey = Tuple[Tuple[str, Any], ...]
# A slicing column: the dtype of its values, and each row's values (None: row lacks it).
Column = Tuple[Any, Sequence[Optional[Sequence[Any]]]]
# Per model name ('' when there is one model): (labels, predictions), one value per example.
ModelArrays = Dict[str, Tuple[np.ndarray, np.ndarray]]

_COMBINERS = (example_count._ExampleCountCombiner,  # pylint: disable=protected-access
              calibration_histogram._CalibrationHistogramCombiner,  # pylint: disable=protected-access
              binary_confusion_matrices._BinaryConfusionMatrixCombiner,  # pylint: disable=protected-access
              calibration._WeightedLabelsPredictionsExamplesCombiner)  # pylint: disable=protected-access


def computations(eval_config: config_pb2.EvalConfig) -> mpv.MetricComputations:
  """TFMA's computations for this config, de-duplicated and separated as TFMA does."""
  return mpv._filter_and_separate_computations(  # pylint: disable=protected-access
      metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config))


def unsupported_reason(eval_config: config_pb2.EvalConfig,
                       planned: mpv.MetricComputations) -> Optional[str]:
  """Why this evaluation needs TFMA's Beam pipeline, or None when it can run here."""
  options = eval_config.options
  if any(spec.query_key for spec in eval_config.metrics_specs):
    return 'query keys'
  if eval_config.cross_slicing_specs or planned.cross_slice_computations:
    return 'cross slices'
  if planned.ci_derived_computations or options.compute_confidence_intervals.value:
    return 'confidence intervals'
  if options.min_slice_size.value > 1:
    return 'a minimum slice size'
  if options.disabled_outputs.values:
    return 'disabled outputs'
  if any(spec.slice_keys_sql for spec in eval_config.slicing_specs):
    return 'SQL slices'
  for spec in eval_config.model_specs:
    if (spec.label_keys or spec.prediction_keys or spec.example_weight_key
        or spec.example_weight_keys or not spec.label_key):
      return f'model spec {spec.name or "(unnamed)"} is not single-output with a label_key'
  for computation in planned.non_derived_computations:
    combiner = computation.combiner
    if not isinstance(combiner, _COMBINERS):
      return f'metric combiner {type(combiner).__name__}'
    key = getattr(combiner, '_key', None)
    if key is not None and (key.output_name or key.sub_key or key.aggregation_type):
      return f'metric {key.name} with an output name, sub key or aggregation'
    if getattr(combiner, '_class_weights', None) or getattr(combiner, '_aggregation_type', None):
      return f'metric {type(combiner).__name__} with class weights or aggregation'
    if isinstance(combiner, example_count._ExampleCountCombiner) and combiner._output_name:  # pylint: disable=protected-access
      return 'example count with an output name'
    if isinstance(combiner, binary_confusion_matrices._BinaryConfusionMatrixCombiner):  # pylint: disable=protected-access
      if (combiner._example_id_key  # pylint: disable=protected-access
          or combiner._extract_label_prediction_and_weight  # pylint: disable=protected-access
          is not metric_util.to_label_prediction_example_weight):
        return 'confusion matrices with example ids or a custom extraction'
  return None


# --- Slices -----------------------------------------------------------------------------

def slice_specs(eval_config: config_pb2.EvalConfig) -> List[slicer_lib.SingleSliceSpec]:
  """The slices TFMA's SliceKeyExtractor makes for this config (overall when none)."""
  return ([slicer_lib.SingleSliceSpec(spec=spec) for spec in eval_config.slicing_specs]
          or [slicer_lib.SingleSliceSpec()])


def slicing_columns(specs: Sequence[slicer_lib.SingleSliceSpec]) -> List[str]:
  names = set()
  for spec in specs:
    names.update(spec._columns)  # pylint: disable=protected-access
    names.update(name for name, _ in spec._features)  # pylint: disable=protected-access
  return sorted(names)


def slice_rows(columns: Mapping[str, Column], num_rows: int,
               specs: Sequence[slicer_lib.SingleSliceSpec]) -> Dict[SliceKey, np.ndarray]:
  """Row indices of every slice, found by TFMA's slicer.

  `columns` holds each slicing column's dtype and values per row. The slicer runs once
  per distinct combination of values, on arrays of that dtype as TFMA's features
  extractor gives them, not once per row.
  """
  names = sorted(columns)
  group_of_values: Dict[Tuple, int] = {}
  group_ids = np.empty(num_rows, dtype=np.int64)
  if not names:  # no slicing feature: every row is in the one group (the overall slice)
    group_ids[:] = 0
    group_of_values[()] = 0
  for row, row_values in enumerate(zip(*(columns[name][1] for name in names))):
    values = tuple(None if value is None else tuple(value) for value in row_values)
    group_ids[row] = group_of_values.setdefault(values, len(group_of_values))
  groups_of_slice: Dict[SliceKey, List[int]] = {}
  for values, group in group_of_values.items():
    features = {name: None if value is None else np.array(value, dtype=columns[name][0])
                for name, value in zip(names, values)}
    for key in set(slicer_lib.get_slices_for_features_dicts([], features, list(specs))):
      groups_of_slice.setdefault(key, []).append(group)
  return {key: np.flatnonzero(np.isin(group_ids, groups))
          for key, groups in sorted(groups_of_slice.items(), key=lambda item: _sort_key(item[0]))}


def _sort_key(key: SliceKey):
  return (len(key), [(name, str(value)) for name, value in key])


# --- The four combiners' accumulators, filled from arrays -------------------------------

def _sequential_sum(values: np.ndarray) -> float:
  """Sum in row order, as TFMA's per-example `+=` does (np.sum is pairwise)."""
  return float(np.cumsum(values)[-1]) if len(values) else 0.0


def _check_labels(labels: np.ndarray) -> None:
  outside = ~((labels >= 0) & (labels <= 1))
  if outside.any():
    raise ValueError(f'label must be within [0, 1]: {labels[outside][0]!r} '
                     f'(and {int(outside.sum()) - 1} more)')


def _tuples(labels: np.ndarray, predictions: np.ndarray, fractional: bool
            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The (label, prediction, weight) tuples `to_label_prediction_example_weight` yields.

  Unit example weights. With fractional labels each example gives (0, p, 1 - l) then
  (1, p, l), and tuples of weight 0 are dropped.
  """
  predictions = predictions.astype(np.float64)
  if not fractional:
    return labels.astype(np.float64), predictions, np.ones(len(labels))
  _check_labels(labels)
  weights = np.stack([(1 - labels).astype(np.float64), labels.astype(np.float64)], axis=1)
  tuple_labels = np.broadcast_to(np.array([0.0, 1.0]), weights.shape)
  tuple_predictions = np.broadcast_to(predictions[:, None], weights.shape)
  keep = (weights != 0).ravel()
  return (tuple_labels.ravel()[keep], tuple_predictions.ravel()[keep], weights.ravel()[keep])


def _histogram(combiner, labels, predictions) -> Dict[int, calibration_histogram.Bucket]:
  # pylint: disable=protected-access
  tuple_labels, tuple_predictions, weights = _tuples(
      labels, predictions, combiner._fractional_labels)
  values = tuple_predictions if combiner._prediction_based_bucketing else tuple_labels
  if np.isnan(values).any():
    raise ValueError('a prediction is NaN: the calibration histogram cannot bucket it')
  index = ((values - combiner._left) / combiner._range * combiner._num_buckets) + 1
  last = combiner._num_buckets + 1
  buckets = np.where(index < 0, 0, np.where(index >= last, last, np.floor(index))).astype(np.int64)
  counts = np.bincount(buckets)
  weighted_labels = np.bincount(buckets, weights=tuple_labels * weights)
  weighted_predictions = np.bincount(buckets, weights=tuple_predictions * weights)
  weighted_examples = np.bincount(buckets, weights=weights)
  return {int(b): calibration_histogram.Bucket(int(b), float(weighted_labels[b]),
                                               float(weighted_predictions[b]),
                                               float(weighted_examples[b]))
          for b in np.flatnonzero(counts)}


def _confusion_matrices(combiner, labels, predictions) -> bcm.MatrixAccumulator:
  # pylint: disable=protected-access
  fractional = combiner._enable_fractional_labels
  tuple_labels, tuple_predictions, weights = _tuples(labels, predictions, fractional)
  accumulator = {}
  for threshold in combiner._binary_confusion_matrices._thresholds:
    positive = tuple_labels == 1.0 if fractional else tuple_labels > threshold
    predicted = tuple_predictions > threshold
    accumulator[threshold] = bcm._ThresholdEntry(
        bcm.Matrix(tp=_sequential_sum(weights[positive & predicted]),
                   tn=_sequential_sum(weights[~positive & ~predicted]),
                   fp=_sequential_sum(weights[~positive & predicted]),
                   fn=_sequential_sum(weights[positive & ~predicted])),
        tp_examples=[], tn_examples=[], fp_examples=[], fn_examples=[])
  return accumulator


def _weighted_totals(labels, predictions) -> calibration._WeightedLabelsPredictionsExamples:  # pylint: disable=protected-access
  totals = calibration._WeightedLabelsPredictionsExamples()  # pylint: disable=protected-access
  totals.total_weighted_examples = float(len(labels))
  totals.total_weighted_labels = _sequential_sum(labels.astype(np.float64))
  totals.total_weighted_predictions = _sequential_sum(predictions.astype(np.float64))
  return totals


def _accumulator(combiner, arrays: ModelArrays, rows: np.ndarray):
  # pylint: disable=protected-access
  if isinstance(combiner, example_count._ExampleCountCombiner):
    return np.float64(len(rows))
  labels, predictions = arrays[combiner._key.model_name]
  labels, predictions = labels[rows], predictions[rows]
  if isinstance(combiner, calibration_histogram._CalibrationHistogramCombiner):
    return _histogram(combiner, labels, predictions)
  if isinstance(combiner, binary_confusion_matrices._BinaryConfusionMatrixCombiner):
    return _confusion_matrices(combiner, labels, predictions)
  return _weighted_totals(labels, predictions)


# --- One slice's results, then the files' protos ----------------------------------------

def slice_results(planned: mpv.MetricComputations, arrays: ModelArrays, rows: np.ndarray,
                  baseline_model_name: Optional[str]) -> Dict[metric_types.MetricKey, Any]:
  """One slice's metrics and plots: base combiners, derived metrics, baseline diffs."""
  result: Dict[metric_types.MetricKey, Any] = {}
  for computation in planned.non_derived_computations:
    combiner = computation.combiner
    result.update(combiner.extract_output(_accumulator(combiner, arrays, rows)))
  for derived in planned.derived_computations:
    result.update(derived.result(result))
  if baseline_model_name:
    result.update(_diffs(result, baseline_model_name))
  return {key: value for key, value in result.items()
          if not mpv._is_private_metrics(key)}  # pylint: disable=protected-access


def _diffs(result: Dict[metric_types.MetricKey, Any], baseline: str) -> Dict:
  """TFMA's candidate-minus-baseline metrics (its `add_diff_metrics`)."""
  diffs = {}
  for key, value in result.items():
    if mpv._is_private_metrics(key) or key.is_diff or key.model_name == baseline:  # pylint: disable=protected-access
      continue
    baseline_key = key.make_baseline_key(baseline)
    if baseline_key in result and mpv._is_metric_diffable(value):  # pylint: disable=protected-access
      diffs[key.make_diff_key()] = value - result[baseline_key]
  return diffs


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """Every slice's results as the protos TFMA's writer writes, and the validation."""
  eval_config: config_pb2.EvalConfig
  metrics: List[Any]
  plots: List[Any]
  validation: validation_result_pb2.ValidationResult


def evaluate(eval_config: config_pb2.EvalConfig, planned: mpv.MetricComputations,
             arrays: ModelArrays, slices: Dict[SliceKey, np.ndarray],
             rubber_stamp: bool) -> Evaluation:
  """All slices through the planned computations, validated against the config."""
  baseline = model_util.get_baseline_model_spec(eval_config)
  validations = writer.CombineValidations(eval_config, rubber_stamp=rubber_stamp)
  validation = validations.create_accumulator()
  metrics_protos, plots_protos = [], []
  for slice_key, rows in slices.items():
    sliced = (slice_key, slice_results(planned, arrays, rows,
                                       baseline.name if baseline else None))
    metrics = mpv._filter_by_key_type(sliced, metric_types.MetricKey)  # pylint: disable=protected-access
    plots = mpv._filter_by_key_type(sliced, metric_types.PlotKey)  # pylint: disable=protected-access
    metrics_protos.append(writer.convert_slice_metrics_to_proto(metrics, add_metrics_callbacks=[]))
    plots_protos.append(writer.convert_slice_plots_to_proto(plots, add_metrics_callbacks=[]))
    validation = validations.add_input(
        validation, metrics_validator.validate_metrics(metrics, eval_config))
  return Evaluation(eval_config, metrics_protos, plots_protos,
                    validations.extract_output(validation))


def model_names(eval_config: config_pb2.EvalConfig) -> Iterable[Tuple[str, config_pb2.ModelSpec]]:
  """(name TFMA keys this model's outputs by, spec): '' when there is one model."""
  for spec in eval_config.model_specs:
    yield (spec.name if len(eval_config.model_specs) > 1 else ''), spec
