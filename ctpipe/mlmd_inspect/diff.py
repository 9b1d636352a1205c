"""`inspect diff A B`: what changed between two runs, or between the runs of two models.

A and B are run ids, artifact ids of models, or pushed versions (`v3`). The answer:
metrics overall and per slice, the schema's text diff, a per-feature drift summary
between the data each side learned from (TFDV's comparators), and which inputs and
parameters of the components both runs executed differ.
"""
import dataclasses
import difflib
import json
import os
from typing import Dict, List, Optional, Tuple

from ctpipe.mlmd_inspect import report_data
from ctpipe.mlmd_inspect.lineage import resolve_target
from ctpipe.metadata.records import OUTPUT_EVENTS, RUN_CONTEXT, Records
from ctpipe.mlmd_inspect.run_view import RunView
from ctpipe.mlmd_inspect.runs import list_runs_by_name

# Execution properties that are bookkeeping, not configuration.
_IGNORED_PROPERTIES = ('component_id', 'pipeline_root', 'run_id', 'pipeline_run_id')


# Slices smaller than this on either side are listed, never ranked as moves (one trip
# flips a one-trip slice's accuracy from 1 to 0).
MIN_RANKED_EXAMPLES = 30


@dataclasses.dataclass
class MetricChange:
  slice_name: str
  metric: str
  a: Optional[float]
  b: Optional[float]
  examples_a: Optional[float] = None
  examples_b: Optional[float] = None

  @property
  def delta(self) -> Optional[float]:
    if self.a is None or self.b is None or self.a != self.a or self.b != self.b:
      return None  # missing, or undefined (NaN) on one side
    return self.b - self.a

  @property
  def ranked(self) -> bool:
    """Large enough on both sides for its change to count as a move."""
    return (self.examples_a or 0) >= MIN_RANKED_EXAMPLES and (
        self.examples_b or 0) >= MIN_RANKED_EXAMPLES


@dataclasses.dataclass
class Difference:
  a: str  # run ids
  b: str
  metrics: List[MetricChange]
  schema_diff: List[str]
  drift: List[report_data.Drift]
  drift_between: Tuple[Optional[int], Optional[int]]  # spans compared
  changed_inputs: Dict[str, List[str]]  # node -> what differs
  changed_parameters: Dict[str, List[str]]
  only_in_a: List[str]
  only_in_b: List[str]


def _flat(value, prefix: str) -> Dict[str, object]:
  if isinstance(value, dict):
    out = {}
    for k, v in value.items():
      out.update(_flat(v, f'{prefix}.{k}'))
    return out
  return {prefix: value}


def _parameter_changes(key: str, a, b) -> List[str]:
  """`key: a -> b`; for JSON objects (TFX's configs), only the fields that differ."""
  try:
    flat_a, flat_b = _flat(json.loads(a), key), _flat(json.loads(b), key)
  except (TypeError, ValueError):
    return [f'{key}: {str(a)[:200]} -> {str(b)[:200]}']
  return [f'{k}: {json.dumps(flat_a.get(k))[:200]} -> {json.dumps(flat_b.get(k))[:200]}'
          for k in sorted(set(flat_a) | set(flat_b)) if flat_a.get(k) != flat_b.get(k)]


def resolve_run(records: Records, target: str) -> str:
  """A run id as given, or the run that produced a model / pushed version."""
  store = records.store
  if store.get_context_by_type_and_name(RUN_CONTEXT, target) is not None:
    return target
  artifact = resolve_target(records, target)
  producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id])
               if e.type in OUTPUT_EVENTS]
  for execution_id in producers:
    for context in store.get_contexts_by_execution(execution_id):
      if context.type == RUN_CONTEXT:
        return context.name
  raise LookupError(f'{target!r}: no run produced {artifact.brief()}')


def _metric_changes(a: RunView, b: RunView) -> List[MetricChange]:
  evaluations = [run.outputs_of_type('ModelEvaluation') for run in (a, b)]
  if not all(evaluations):
    return []
  ea, eb = (report_data.evaluation(e[-1].uri) for e in evaluations)
  if ea is None or eb is None:
    return []
  changes = []
  for name in sorted(set(ea.overall.candidate) | set(eb.overall.candidate)):
    if not name.endswith('_diff'):
      changes.append(MetricChange('all data', name, ea.overall.candidate.get(name),
                                  eb.overall.candidate.get(name)))
  slices_a = {s.slice_name: s.candidate for s in ea.slices}
  slices_b = {s.slice_name: s.candidate for s in eb.slices}
  for slice_name in sorted(set(slices_a) | set(slices_b)):
    in_a, in_b = slices_a.get(slice_name, {}), slices_b.get(slice_name, {})
    for name in ('binary_accuracy', 'accuracy', 'auc', 'rmse', 'example_count'):
      if name in in_a or name in in_b:
        changes.append(MetricChange(slice_name, name, in_a.get(name), in_b.get(name),
                                    in_a.get('example_count'), in_b.get('example_count')))
  return changes


def _schema_text(run: RunView) -> Tuple[Optional[int], str]:
  schemas = sorted({i for e in run.executions for i in e.inputs.get('schema', [])})
  if not schemas:
    return None, ''
  artifact = run.artifacts[schemas[-1]]
  path = os.path.join(artifact.uri, 'schema.pbtxt')
  if not os.path.exists(path):
    return artifact.id, ''
  with open(path, encoding='utf-8') as f:
    return artifact.id, f.read()


def _newest_statistics(run: RunView):
  found = [(run.span(a), a) for a in run.outputs_of_type('ExampleStatistics')]
  found = [(s, a) for s, a in found if s is not None]
  return max(found, key=lambda p: (p[0], p[1].id)) if found else (None, None)


def _by_node(run: RunView):
  return {e.node: e for e in run.executions if e.state in ('COMPLETE', 'CACHED')}


def compare(records: Records, a: str, b: str) -> Difference:
  run_a, run_b = resolve_run(records, a), resolve_run(records, b)
  rows = list_runs_by_name(records, [run_a, run_b])
  view_a, view_b = RunView(records, rows[0]), RunView(records, rows[1])

  (id_a, text_a), (id_b, text_b) = _schema_text(view_a), _schema_text(view_b)
  schema_diff = [] if id_a == id_b or text_a == text_b else list(difflib.unified_diff(
      text_a.splitlines(), text_b.splitlines(), f'schema #{id_a}', f'schema #{id_b}',
      lineterm='', n=1))

  (span_a, stats_a), (span_b, stats_b) = _newest_statistics(view_a), _newest_statistics(view_b)
  drift = []
  if stats_a is not None and stats_b is not None and stats_a.id != stats_b.id:
    split = 'train' if 'train' in report_data.splits(stats_b.uri) else 'eval'
    drift = report_data.drift(report_data.load_statistics(stats_b.uri, split),
                              report_data.load_statistics(stats_a.uri, split))

  nodes_a, nodes_b = _by_node(view_a), _by_node(view_b)
  changed_inputs: Dict[str, List[str]] = {}
  changed_parameters: Dict[str, List[str]] = {}
  for node in sorted(set(nodes_a) & set(nodes_b)):
    ea, eb = nodes_a[node], nodes_b[node]
    inputs = []
    for key in sorted(set(ea.inputs) | set(eb.inputs)):
      ids_a, ids_b = sorted(ea.inputs.get(key, [])), sorted(eb.inputs.get(key, []))
      if ids_a != ids_b:
        spans_a = sorted({view_a.span(view_a.artifacts[i]) for i in ids_a if i in view_a.artifacts}
                         - {None})
        spans_b = sorted({view_b.span(view_b.artifacts[i]) for i in ids_b if i in view_b.artifacts}
                         - {None})
        detail = f' (spans {spans_a} -> {spans_b})' if spans_a != spans_b else ''
        inputs.append(f'{key}: artifacts {ids_a} -> {ids_b}{detail}')
    if inputs:
      changed_inputs[node] = inputs
    parameters = []
    for key in sorted(set(ea.properties) | set(eb.properties)):
      if key in _IGNORED_PROPERTIES:
        continue
      va, vb = ea.properties.get(key), eb.properties.get(key)
      if va != vb:
        parameters.extend(_parameter_changes(key, va, vb))
    if parameters:
      changed_parameters[node] = parameters
  return Difference(run_a, run_b, _metric_changes(view_a, view_b), schema_diff, drift,
                    (span_a, span_b), changed_inputs, changed_parameters,
                    sorted(set(nodes_a) - set(nodes_b)), sorted(set(nodes_b) - set(nodes_a)))
