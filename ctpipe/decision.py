"""The blessing decision as a table: every threshold the Evaluator applied, on every slice it
names, with the candidate's and the baseline's values, the rule, and whether it passed.

Read from the evaluation itself (its EvalConfig and metrics, `ctpipe.tfma_results`), so the
terminal, `inspect` and the report show the same rows for any TFX store. TFMA's own
validation stays the verdict; these rows say why.
"""
import dataclasses
from typing import Callable, List, Optional, Tuple

from ctpipe.tfma_results import Evaluation, SliceMetrics

# Metric classes to the names their values are stored under.
METRIC_NAMES = {'AUC': 'auc', 'BinaryAccuracy': 'binary_accuracy',
                'AccuracyLift': 'accuracy_lift', 'MulticlassAccuracy': 'accuracy',
                'MulticlassAccuracyLift': 'accuracy_lift', 'RootMeanSquaredError': 'rmse',
                'RmseLift': 'rmse_lift', 'Calibration': 'calibration', 'Precision': 'precision',
                'Recall': 'recall', 'MeanAbsoluteError': 'mean_absolute_error'}
HIGHER_IS_BETTER = 2  # tfma.MetricDirection (UNKNOWN 0, LOWER_IS_BETTER 1)
# TFMA's bounds are inclusive; a strict bound is written as the bound plus this much.
_STRICT = 1e-6

Rule = Callable[[Optional[float], Optional[float]], Optional[bool]]


@dataclasses.dataclass(frozen=True)
class Check:
  metric: str
  slice_name: str
  candidate: Optional[float]
  baseline: Optional[float]
  rule: str               # in words: '≥ 0.9', '≥ baseline − 0.01', ...
  passed: Optional[bool]  # None: not applied (a change threshold with no baseline)
  examples: Optional[float] = None

  @property
  def difference(self) -> Optional[float]:
    if self.candidate is None or self.baseline is None:
      return None
    return self.candidate - self.baseline

  @property
  def outcome(self) -> str:
    if self.candidate is None:
      return 'fail: no examples'
    if self.candidate != self.candidate:
      return 'n/a: undefined on this slice (one class only)'
    return {True: 'pass', False: 'fail', None: 'n/a: no baseline'}[self.passed]


def _bound(value: float) -> Tuple[str, float]:
  """('>', 0.0) for a strict bound written as 0.0 + epsilon, else ('≥', value)."""
  rounded = round(value, 4)
  if 0 < value - rounded < _STRICT:
    return '>', rounded
  return '≥', value


def _rule(threshold) -> Tuple[str, Rule]:
  if threshold.HasField('value_threshold'):
    bounds = threshold.value_threshold
    low = bounds.lower_bound.value if bounds.HasField('lower_bound') else None
    high = bounds.upper_bound.value if bounds.HasField('upper_bound') else None
    words = []
    if low is not None:
      sign, shown = _bound(low)
      words.append(f'{sign} {shown:g}')
    if high is not None:
      words.append(f'≤ {high:g}')

    def value_rule(candidate, baseline):
      del baseline
      if candidate is None:
        return False
      return (low is None or candidate >= low) and (high is None or candidate <= high)
    return ' and '.join(words), value_rule
  change = threshold.change_threshold
  higher = change.direction == HIGHER_IS_BETTER
  if change.HasField('absolute'):
    limit = change.absolute.value
    words = (f'≥ baseline − {abs(limit):g}' if higher else f'≤ baseline + {abs(limit):g}')

    def absolute_rule(candidate, baseline):
      if candidate is None:
        return False
      if baseline is None:
        return None
      return candidate - baseline >= limit if higher else candidate - baseline <= limit
    return words, absolute_rule
  limit = change.relative.value
  words = (f'≥ baseline × {1 - abs(limit):g}' if higher else f'≤ baseline × {1 + limit:g}')

  def relative_rule(candidate, baseline):
    if candidate is None:
      return False
    if baseline is None or baseline == 0:
      return None
    ratio = (candidate - baseline) / abs(baseline)
    return ratio >= -abs(limit) if higher else ratio <= limit
  return words, relative_rule


def _slices(spec, evaluation: Evaluation) -> List[Tuple[str, Optional[SliceMetrics]]]:
  """The evaluated slices a SlicingSpec names (a named one that holds no examples: None)."""
  if spec.feature_values:
    name = ', '.join(f'{k}={v}' for k, v in sorted(spec.feature_values.items()))
    found = next((s for s in evaluation.slices if s.slice_name == name), None)
    return [(name, found)]
  if spec.feature_keys:
    keys = list(spec.feature_keys)
    return [(s.slice_name, s) for s in evaluation.slices
            if [part.split('=', 1)[0] for part in s.slice_name.split(', ')] == keys]
  return [('all data', evaluation.overall)]


def checks(evaluation: Evaluation) -> List[Check]:
  """Every (threshold, slice) the evaluation's config names, overall first."""
  config = evaluation.config
  if config is None:
    return []
  found: List[Check] = []
  for spec in config.metrics_specs:
    for metric in spec.metrics:
      name = METRIC_NAMES.get(metric.class_name, metric.class_name.lower())
      thresholds = [(t.slicing_specs, t.threshold) for t in metric.per_slice_thresholds]
      if metric.HasField('threshold'):
        thresholds.append(([], metric.threshold))  # every slice, as TFMA applies it
      for slicing_specs, threshold in thresholds:
        if not (threshold.HasField('value_threshold') or threshold.HasField('change_threshold')):
          continue  # a change threshold TFX dropped: there was no baseline to compare with
        words, rule = _rule(threshold)
        for slicing_spec in slicing_specs or [None]:
          named = (_slices(slicing_spec, evaluation) if slicing_spec is not None else
                   [('all data', evaluation.overall)] + [(s.slice_name, s)
                                                         for s in evaluation.slices])
          for slice_name, values in named:
            candidate = values.candidate.get(name) if values else None
            baseline = values.baseline.get(name) if values else None
            undefined = candidate is not None and candidate != candidate
            found.append(Check(name, slice_name, candidate, baseline, words,
                               (None if undefined else rule(candidate, baseline)) if values
                               else False,
                               values.candidate.get('example_count') if values else None))
  return sorted(found, key=lambda c: c.slice_name != 'all data')
