"""`ctpipe experiments`: training runs side by side, their parameters and metrics, from any TFX store.

A run's parameters and metrics are read from its own executions, so every TFX store
answers, whether or not its runs were filed under an experiment:
- parameters: the Trainer's hyperparameters (its custom_config's `hparams`, with those of
  the HyperParameters artifact it read on top), its train/eval steps, the training window
  (the spans of the Examples it read), a fingerprint of those Examples (TFX's
  input_fingerprint of each), and the code's version (the `user_code_version` ctpipe
  passes, and the revision an experiment record names);
- metrics: the Evaluator's evaluation, overall and per slice (ctpipe/tfma_results.py).
An experiment is a `ctpipe.Experiment` context whose children are its runs' contexts
(`ctpipe run --experiment NAME`, ctpipe/metadata/writes.py).
"""
import dataclasses
import hashlib
import json
from typing import Any, Dict, List, Optional

from ml_metadata.metadata_store import metadata_store

from ctpipe import tfma_results, tuning_results
from ctpipe.metadata.connection import EXPERIMENT_CONTEXT, EXPERIMENT_RUN_TYPE
from ctpipe.metadata.records import RUN_CONTEXT, Records
from ctpipe.mlmd_inspect.errors import InspectError
from ctpipe.mlmd_inspect.run_view import RunView
from ctpipe.mlmd_inspect.runs import list_runs_by_name

# Which value of a metric is the best (sorting, the compare page's marks): the largest,
# the smallest, or the nearest to 1 (calibration: mean prediction / mean label). Counts,
# label means and the differences to each run's own baseline have no best.
_LARGER_IS_BETTER = ('auc', 'binary_accuracy', 'accuracy', 'accuracy_lift', 'precision',
                     'recall', 'rmse_lift', 'auc_precision_recall')
_SMALLER_IS_BETTER = ('rmse', 'mean_absolute_error', 'loss', 'calibration_error')


@dataclasses.dataclass
class ExperimentRun:
  run: str
  pipeline: str
  started: str
  experiments: List[str]
  parameters: Dict[str, Any]
  metrics: Dict[str, float]                       # the candidate's, overall
  slices: Dict[str, Dict[str, float]]             # slice name -> the candidate's metrics
  blessed: Optional[bool]
  pushed_version: Optional[int]
  evaluation: Optional[tfma_results.Evaluation] = dataclasses.field(default=None, repr=False)

  def to_dict(self) -> Dict[str, Any]:
    values = dataclasses.asdict(self)
    values.pop('evaluation')
    return values


def best_direction(metric: str) -> Optional[str]:
  """'max', 'min', 'one' (nearest to 1) or None (no best) for a metric's name."""
  if metric.endswith('_diff'):
    return None
  if metric in _LARGER_IS_BETTER:
    return 'max'
  if metric in _SMALLER_IS_BETTER:
    return 'min'
  return 'one' if metric == 'calibration' else None


def rank_key(metric: str):
  """A sort key putting the best value of `metric` first (largest first when it has none)."""
  direction = best_direction(metric)
  if direction == 'min':
    return lambda value: value
  if direction == 'one':
    return lambda value: abs(value - 1.0)
  return lambda value: -value


def _json(value) -> Any:
  if isinstance(value, str):
    try:
      return json.loads(value)
    except ValueError:
      return None
  return value


def node_of(view: RunView, suffix: str):
  """The run's last execution of a node or type named `suffix` (TFX's component class)."""
  found = [e for e in view.executions if e.node == suffix or e.type.endswith('.' + suffix)
           or e.type == suffix]
  return found[-1] if found else None


def parameters_of(records: Records, view: RunView, trainer) -> Dict[str, Any]:
  parameters: Dict[str, Any] = {}
  config = _json(trainer.properties.get('custom_config')) or {}
  hparams = dict(config.get('hparams') or {}) if isinstance(config, dict) else {}
  tuned = [view.artifacts[i] for i in trainer.inputs.get('hyperparameters', [])
           if i in view.artifacts]
  if tuned:
    values = tuning_results.read_best(tuned[0].uri) or _json(tuned[0].properties.get('values')) or {}
    hparams.update(values)
    if 'width' in values or 'depth' in values:
      hparams.pop('hidden_units', None)
    parameters['hyperparameters'] = f'tuned (HyperParameters #{tuned[0].id})'
  elif hparams:
    parameters['hyperparameters'] = 'configured'
  for name, value in sorted(hparams.items()):
    parameters[f'hp.{name}'] = value
  for key in ('train_args', 'eval_args'):
    steps = (_json(trainer.properties.get(key)) or {}).get('num_steps')
    if steps:
      parameters[f'{key.split("_")[0]}_steps'] = steps
  examples = [view.artifacts[i] for i in trainer.inputs.get('examples', [])
              if i in view.artifacts]
  spans = sorted({int(s) for a in examples
                  for s in str(a.properties.get('window_spans') or a.span or '').split(',')
                  if s.strip().lstrip('-').isdigit()})
  if spans:
    parameters['window'] = ','.join(map(str, spans))
  prints = sorted(str(a.properties.get('input_fingerprint', a.id))
                  for a in _source_examples(view, examples))
  if prints:
    parameters['data_fingerprint'] = hashlib.sha256('\n'.join(prints).encode()).hexdigest()[:12]
  code = config.get('user_code_version') if isinstance(config, dict) else None
  record = _record(records, view.row.run)
  revision = record.get('code_version') if record else ''
  if code or revision:
    parameters['code_version'] = ' '.join(p for p in (revision, f'models:{code}' if code else '')
                                          if p)
  return parameters


def _source_examples(view: RunView, examples: List[Any]) -> List[Any]:
  """The Examples a merged window was made of (ctpipe's MergeWindow: the inputs of the
  execution in this run that wrote them), else the Examples themselves."""
  found = []
  for artifact in examples:
    producer = next((e for e in view.executions
                     if artifact.id in sum(e.outputs.values(), [])), None)
    sources = [view.artifacts[i] for i in (producer.inputs.get('examples', []) if producer else [])
               if i in view.artifacts and view.artifacts[i].type == 'Examples']
    found += sources or [artifact]
  return found


def _record(records: Records, run: str) -> Dict[str, Any]:
  """The properties of the run's newest ctpipe.ExperimentRun record ({} if none)."""
  context = records.run_context(run)
  found = [e for e in records.store.get_executions_by_context(context.id)
           if records.execution_type(e.type_id) == EXPERIMENT_RUN_TYPE]
  if not found:
    return {}
  newest = max(found, key=lambda e: e.id)
  return {k: v.string_value for k, v in newest.properties.items()}


def _experiments_of(records: Records, run: str) -> List[str]:
  context = records.run_context(run)
  return sorted(p.name for p in records.store.get_parent_contexts_by_context(context.id)
                if p.type == EXPERIMENT_CONTEXT)


def describe(records: Records, run: str) -> Optional[ExperimentRun]:
  """A training run's parameters and metrics; None when the run trained nothing."""
  rows = list_runs_by_name(records, [run])
  view = RunView(records, rows[0])
  trainer = node_of(view, 'Trainer')
  if trainer is None or trainer.state not in ('COMPLETE', 'CACHED'):
    return None
  evaluation = None
  evaluator = node_of(view, 'Evaluator')
  if evaluator is not None:
    uris = [view.artifacts[i].uri for i in evaluator.outputs.get('evaluation', [])
            if i in view.artifacts]
    evaluation = tfma_results.read(uris[0]) if uris else None
  row = view.row
  return ExperimentRun(
      run=run, pipeline=row.pipeline, started=row.start, experiments=_experiments_of(records, run),
      parameters=parameters_of(records, view, trainer),
      metrics=dict(evaluation.overall.candidate) if evaluation else {},
      slices={s.slice_name: dict(s.candidate) for s in evaluation.slices} if evaluation else {},
      blessed=row.blessed, pushed_version=row.pushed_version, evaluation=evaluation)


def run_names(records: Records, experiment: Optional[str] = None, limit: int = 50) -> List[str]:
  """The runs of `experiment` (every run of the store when None), oldest first."""
  store = records.store
  if experiment is None:
    contexts = store.get_contexts(list_options=metadata_store.ListOptions(
        filter_query=f"type = '{RUN_CONTEXT}'", limit=limit,
        order_by=metadata_store.OrderByField.CREATE_TIME, is_asc=False))
  else:
    group = store.get_context_by_type_and_name(EXPERIMENT_CONTEXT, experiment)
    if group is None:
      known = sorted(c.name for c in store.get_contexts_by_type(EXPERIMENT_CONTEXT))
      raise InspectError(f'no experiment {experiment!r} in this store; experiments: '
                         + (', '.join(known) if known else 'none yet (ctpipe run --experiment NAME)'))
    contexts = store.get_children_contexts_by_context(group.id)
  return [c.name for c in sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))]


def experiment_names(records: Records) -> List[str]:
  return sorted(c.name for c in records.store.get_contexts_by_type(EXPERIMENT_CONTEXT))


def list_runs(records: Records, experiment: Optional[str] = None,
              sort: Optional[str] = None, limit: int = 50) -> List[ExperimentRun]:
  """The training runs (of `experiment`), oldest first or best first by metric `sort`."""
  found = [r for r in (describe(records, name) for name in run_names(records, experiment, limit))
           if r is not None]
  if sort:
    known = sorted({m for r in found for m in r.metrics})
    if found and sort not in known:
      raise InspectError(f'no metric {sort!r} in these runs; metrics: {", ".join(known)}')
    missing = [r for r in found if sort not in r.metrics or r.metrics[sort] != r.metrics[sort]]
    key = rank_key(sort)
    ranked = sorted((r for r in found if r not in missing), key=lambda r: key(r.metrics[sort]))
    found = ranked + missing
  return found


def differing(runs: List[ExperimentRun]) -> List[str]:
  """The parameter names whose values are not the same in every run."""
  names = sorted({k for r in runs for k in r.parameters})
  return [n for n in names if len({json.dumps(r.parameters.get(n), sort_keys=True)
                                   for r in runs}) > 1]
