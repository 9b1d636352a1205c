"""What a run did, read back from ML Metadata: per-component outcome, blessing, push, metrics.

Used by `ctpipe run` for its closing table and verdict, and by tests to assert on
what the store holds rather than on printed text.
"""
import dataclasses
import os
from typing import Dict, List, Optional

from ctpipe import decision, tfma_results, tuning_results
from ctpipe.metadata import reader as metadata
from ctpipe.tfma_results import Failure
from pipeline import definition

__all__ = ['Failure', 'RunSummary', 'read_evaluation', 'summarize']

# The overall metrics a run's closing table shows, in order, for whichever task they
# belong to (binary: AUC to calibration; multiclass: accuracy and its lift; regression:
# RMSE, its lift over the mean predictor, MAE).
HEADLINE_METRICS = ('auc', 'binary_accuracy', 'accuracy', 'accuracy_lift', 'precision', 'recall',
                    'calibration', 'rmse', 'rmse_lift', 'mean_absolute_error', 'example_count')


@dataclasses.dataclass
class Hyperparameters:
  """What the Trainer trained with, and where it came from."""
  source: str  # 'tuned' (by this run's Tuner) | 'reused' (an earlier run's) | 'configured'
  values: Dict[str, object] = dataclasses.field(default_factory=dict)
  artifact_id: Optional[int] = None
  tuned_by_run: str = ''  # the run whose Tuner found them
  trials: Optional[int] = None
  objective: str = ''
  best_value: Optional[float] = None
  kept_configured: bool = False  # no trial beat the configured ones by tuning.min_gain

  def sentence(self) -> str:
    if self.source == 'configured':
      return 'hyperparameters: as configured (no search recorded for this data set yet)'
    found = (f'{self.trials} trials, best {self.objective} {self.best_value:.4f}'
             if self.trials and self.best_value is not None else 'a search')
    if self.kept_configured:
      found += '; no trial beat the configured ones by tuning.min_gain, kept'
    where = 'this run' if self.source == 'tuned' else f'run {self.tuned_by_run}'
    shown = ', '.join(f'{k}={_short(v)}' for k, v in sorted(self.values.items()))
    return (f'hyperparameters: {"tuned by" if self.source == "tuned" else "reused from"} '
            f'{where} ({found}; artifact {self.artifact_id}): {shown}')


def _short(value) -> str:
  return f'{value:.3g}' if isinstance(value, float) else str(value)


@dataclasses.dataclass
class RunSummary:
  executions: List[metadata.ExecutionInfo]
  blessed: Optional[bool] = None
  pushed_version: Optional[str] = None
  pushed_path: Optional[str] = None
  candidate: Dict[str, float] = dataclasses.field(default_factory=dict)
  baseline: Dict[str, float] = dataclasses.field(default_factory=dict)
  failures: List[Failure] = dataclasses.field(default_factory=list)
  schema_proposals: List[str] = dataclasses.field(default_factory=list)
  serving_check_passed: Optional[bool] = None
  serving_check: Optional[str] = None  # its reason, in words
  rollback_in_effect: Optional[str] = None
  on_trial: Optional[str] = None  # pushed as a canary / shadow: against what (ctpipe/rollout)
  edge_exported: Optional[bool] = None
  edge_export: Optional[str] = None  # what happened, in words
  # Every threshold on every slice it names, with both models' values (ctpipe.decision).
  checks: List[decision.Check] = dataclasses.field(default_factory=list)
  not_pushed_reason: Optional[str] = None  # the Pusher's, when it pushed nothing
  hyperparameters: Optional[Hyperparameters] = None  # None: no Trainer ran

  def executed(self) -> List[str]:
    return [e.node_id for e in self.executions if e.state == 'COMPLETE']

  def cached(self) -> List[str]:
    return [e.node_id for e in self.executions if e.state == 'CACHED']


def read_evaluation(uri: str) -> tuple:
  """(candidate metrics, baseline metrics, threshold failures) overall, of an Evaluator output."""
  result = tfma_results.read(uri)
  if result is None:
    return {}, {}, []
  return result.overall.candidate, result.overall.baseline, result.threshold_failures


def summarize(reader: metadata.MetadataReader, after_execution_id: int) -> RunSummary:
  """Summary of the executions with ids above `after_execution_id` (one `ctpipe run`)."""
  executions = reader.executions_after(after_execution_id)
  summary = RunSummary(executions=executions)
  last = metadata.executions_by_node(executions)
  evaluator = last.get(definition.EVALUATOR)
  if evaluator and evaluator.state in ('COMPLETE', 'CACHED'):
    outputs = reader.execution_outputs(evaluator.id)
    blessing = outputs.get('blessing', [])
    if blessing:
      summary.blessed = bool(blessing[0].custom_properties.get('blessed', 0))
    evaluation = outputs.get('evaluation', [])
    result = tfma_results.read(evaluation[0].uri) if evaluation else None
    if result is not None:
      summary.candidate, summary.baseline = result.overall.candidate, result.overall.baseline
      summary.failures = result.threshold_failures
      summary.checks = decision.checks(result)
  check = last.get(definition.SERVING_CHECK)
  if check and check.state in ('COMPLETE', 'CACHED'):
    blessings = reader.execution_outputs(check.id).get('infra_blessing', [])
    if blessings:
      summary.serving_check_passed = bool(blessings[0].custom_properties.get('blessed', 0))
      summary.serving_check = str(blessings[0].custom_properties.get('serving_check', ''))
  pusher = last.get(definition.PUSHER)
  if pusher and pusher.state in ('COMPLETE', 'CACHED'):
    pushed = reader.execution_outputs(pusher.id).get('pushed_model', [])
    if pushed and not pushed[0].custom_properties.get('pushed'):
      reason = pushed[0].custom_properties.get('not_pushed_reason')
      summary.not_pushed_reason = str(reason) if reason else None
    if pushed and pushed[0].custom_properties.get('pushed'):
      summary.pushed_version = str(pushed[0].custom_properties.get('pushed_version'))
      summary.pushed_path = str(pushed[0].custom_properties.get('pushed_destination'))
      summary.rollback_in_effect = pushed[0].custom_properties.get('rollback_in_effect')
      summary.on_trial = pushed[0].custom_properties.get('on_trial')
  edge = last.get(definition.EDGE_EXPORT)
  if edge and edge.state == 'COMPLETE':
    models = reader.execution_outputs(edge.id).get('edge_model', [])
    if models:
      summary.edge_exported = bool(models[0].custom_properties.get('exported', 0))
      summary.edge_export = str(models[0].custom_properties.get('edge_export', ''))
  trainer = last.get(definition.TRAINER)
  if trainer and trainer.state in ('COMPLETE', 'CACHED'):
    summary.hyperparameters = hyperparameters_of(reader, trainer, last.get(definition.TUNER))
  review = last.get(definition.SCHEMA_REVIEW)
  if review and review.state in ('COMPLETE', 'CACHED'):
    for artifact in reader.execution_outputs(review.id).get('review', []):
      path = os.path.join(artifact.uri, 'proposals.txt')
      if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
          summary.schema_proposals = [line.rstrip('\n') for line in f if line.strip()]
  return summary


def hyperparameters_of(reader: metadata.MetadataReader, trainer: metadata.ExecutionInfo,
                       tuner: Optional[metadata.ExecutionInfo]) -> Hyperparameters:
  """The hyperparameters artifact the Trainer execution read, and whose search made it."""
  found = reader.execution_inputs(trainer.id).get('hyperparameters', [])
  if not found:
    return Hyperparameters('configured')
  artifact = found[0]
  props = artifact.custom_properties
  best = props.get('best_value')
  runs = reader.runs_of_artifact(artifact.id)
  tuned_here = tuner is not None and tuner.state == 'COMPLETE' and any(
      a.id == artifact.id for a in reader.execution_outputs(tuner.id).get(
          'best_hyperparameters', []))
  return Hyperparameters(
      'tuned' if tuned_here else 'reused', tuning_results.read_best(artifact.uri), artifact.id,
      runs[0] if runs else '', int(props['trials']) if 'trials' in props else None,
      str(props.get('objective', '')), float(best) if best not in (None, 'None') else None,
      bool(props.get('kept_configured', 0)))
