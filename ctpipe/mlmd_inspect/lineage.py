"""`inspect lineage`: what produced a model or a pushed version, and what a span went into.

Upstream: from the target back through the executions that produced each artifact
and the artifacts they read, to the raw data. For a model, also what happened to
it in its own run (evaluation, blessing, serving check, push); for a pushed version, what
happened to it afterwards (trial decisions, rollbacks). `--span N` walks the
other way: from the span's examples forward to every model trained on them and
where each was pushed. A model used as another run's *baseline* is not "trained on"
anything that run read, so traversal never crosses a baseline input.
"""
import dataclasses
from collections import deque
from typing import Dict, List, Optional, Set

from ml_metadata.metadata_store import metadata_store

from ctpipe.metadata.records import (INPUT_EVENTS, OUTPUT_EVENTS, RUN_CONTEXT, Artifact,
                                  Execution, Records)

_MAX_STEPS = 10_000  # a guard against cycles in a hand-edited store
CTPIPE_TYPE_PREFIX = 'ctpipe.'  # ctpipe's own execution types: rollbacks, trial decisions


@dataclasses.dataclass
class Lineage:
  target: Artifact
  artifacts: Dict[int, Artifact]
  executions: List[Execution]  # oldest first: the order things happened
  # Overall metrics of each evaluation in the lineage, by ModelEvaluation artifact id
  # (candidate and, where there was one, the baseline it was compared with).
  metrics: Dict[int, Dict[str, Dict[str, float]]] = dataclasses.field(default_factory=dict)
  # A pushed version's later life: the trial decisions and rollbacks that named it.
  afterwards: List[Execution] = dataclasses.field(default_factory=list)

  def produced_by(self, artifact_id: int) -> Optional[Execution]:
    for execution in self.executions:
      if any(artifact_id in ids for ids in execution.outputs.values()):
        return execution
    return None


@dataclasses.dataclass
class SpanUse:
  model: Artifact
  run: str
  blessed: Optional[bool]
  pushed: List[Artifact]


def _crosses_baseline(key: str) -> bool:
  return 'baseline' in key


def resolve_target(records: Records, target: str) -> Artifact:
  """An artifact id (`42`) or a pushed version (`v3`, `version:3`)."""
  text = target.strip()
  version = None
  if text.lower().startswith('version:'):
    version = text.split(':', 1)[1]
  elif text[:1] in ('v', 'V') and text[1:].isdigit():
    version = text[1:]
  if version is not None:
    pushed = [a for a in records.store.get_artifacts(list_options=metadata_store.ListOptions(
        filter_query=f"type = 'PushedModel' AND custom_properties.pushed_version.string_value"
                     f" = '{int(version)}'")) if records.artifact(a).properties.get('pushed')]
    if not pushed:
      raise LookupError(f'no pushed version {version} in this store')
    return records.artifact(max(pushed, key=lambda a: a.id))
  if not text.isdigit():
    raise LookupError(f'{target!r} is neither an artifact id (e.g. 42) nor a version (e.g. v3)')
  found = records.store.get_artifacts_by_id([int(text)])
  if not found:
    raise LookupError(f'no artifact with id {text} in this store')
  return records.artifact(found[0])


def _executions_by_id(records: Records, ids: Set[int]) -> List[Execution]:
  if not ids:
    return []
  return records.executions(records.store.get_executions_by_id(sorted(ids)), with_events=True)


_CACHED = 5  # metadata_store_pb2.Execution.CACHED


def _original_producers(store, execution_ids: Set[int]) -> Set[int]:
  """The executions that made an artifact, not the later runs' cached executions that
  only re-published it (when a made one is among them)."""
  if len(execution_ids) < 2:
    return execution_ids
  made = {e.id for e in store.get_executions_by_id(sorted(execution_ids))
          if e.last_known_state != _CACHED}
  return made or execution_ids


def upstream(records: Records, target: Artifact, with_metrics: bool = False) -> Lineage:
  store = records.store
  seen_artifacts = {target.id}
  seen_executions: Set[int] = set()
  queue = deque([target.id])
  steps = 0
  while queue and steps < _MAX_STEPS:
    steps += 1
    artifact_id = queue.popleft()
    producers = {e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                 if e.type in OUTPUT_EVENTS} - seen_executions
    producers = _original_producers(store, producers)
    if not producers:
      continue
    seen_executions |= producers
    for event in store.get_events_by_execution_ids(sorted(producers)):
      key = event.path.steps[0].key if event.path.steps else ''
      if (event.type in INPUT_EVENTS and event.artifact_id not in seen_artifacts
          and not _crosses_baseline(key)):
        seen_artifacts.add(event.artifact_id)
        queue.append(event.artifact_id)
  # A model's own run: what evaluated, checked and pushed it (not later runs' baselines).
  if target.type == 'Model':
    seen_executions |= _same_run_consumers(records, target.id, seen_artifacts)
  executions = _executions_by_id(records, seen_executions)
  for execution in executions:
    for ids in list(execution.inputs.values()) + list(execution.outputs.values()):
      seen_artifacts.update(ids)
  artifacts = {a.id: a for a in records.artifacts(seen_artifacts)}
  afterwards: List[Execution] = []
  if target.type == 'PushedModel':
    readers = {e.execution_id for e in store.get_events_by_artifact_ids([target.id])
               if e.type in INPUT_EVENTS}
    afterwards = sorted((e for e in _executions_by_id(records, readers)
                         if e.type.startswith(CTPIPE_TYPE_PREFIX)), key=lambda e: e.id)
  return Lineage(target, artifacts, sorted(executions, key=lambda e: e.id),
                 _evaluation_metrics(artifacts.values()) if with_metrics else {}, afterwards)


def _evaluation_metrics(artifacts) -> Dict[int, Dict[str, Dict[str, float]]]:
  """Overall metrics of the evaluations among `artifacts` (TFMA is loaded only if any)."""
  evaluations = [a for a in artifacts if a.type == 'ModelEvaluation']
  if not evaluations:
    return {}
  from ctpipe.mlmd_inspect import report_data  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  found = {}
  for artifact in evaluations:
    try:
      with console_logs.quiet_stderr():  # TFMA's import chatter
        result = report_data.evaluation(artifact.uri)
    except Exception:  # pylint: disable=broad-except
      continue  # files gone (e.g. a copied store): the lineage stands without them
    if result is not None:
      found[artifact.id] = {'candidate': result.overall.candidate,
                            'baseline': result.overall.baseline}
  return found


def _run_of(records: Records, execution_id: int) -> Optional[int]:
  for context in records.store.get_contexts_by_execution(execution_id):
    if context.type == RUN_CONTEXT:
      return context.id
  return None


def _same_run_consumers(records: Records, model_id: int, seen_artifacts: Set[int]) -> Set[int]:
  store = records.store
  producer = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
              if e.type in OUTPUT_EVENTS]
  run = _run_of(records, producer[0]) if producer else None
  found: Set[int] = set()
  frontier = [model_id]
  while frontier and len(found) < _MAX_STEPS:
    consumers = {e.execution_id for e in store.get_events_by_artifact_ids(frontier)
                 if e.type in INPUT_EVENTS and not _crosses_baseline(
                     e.path.steps[0].key if e.path.steps else '')} - found
    consumers = {c for c in consumers if run is None or _run_of(records, c) == run}
    found |= consumers
    frontier = [e.artifact_id for e in store.get_events_by_execution_ids(sorted(consumers))
                if e.type in OUTPUT_EVENTS and e.artifact_id not in seen_artifacts]
    seen_artifacts.update(frontier)
  return found


def span_uses(records: Records, span: int) -> List[SpanUse]:
  """Every model trained on data of `span`, with its blessing and pushes."""
  store = records.store
  examples = [a for a in store.get_artifacts(list_options=metadata_store.ListOptions(
      filter_query="type = 'Examples'")) if records.artifact(a).span == span]
  if not examples:
    raise LookupError(f'no Examples of span {span} in this store')
  seen = {a.id for a in examples}
  frontier = list(seen)
  models: Dict[int, Artifact] = {}
  while frontier and len(seen) < _MAX_STEPS:
    consumers = {e.execution_id for e in store.get_events_by_artifact_ids(frontier)
                 if e.type in INPUT_EVENTS and not _crosses_baseline(
                     e.path.steps[0].key if e.path.steps else '')}
    outputs = {e.artifact_id for e in store.get_events_by_execution_ids(sorted(consumers))
               if e.type in OUTPUT_EVENTS} - seen
    seen |= outputs
    frontier = sorted(outputs)
    for artifact in records.artifacts(frontier):
      if artifact.type == 'Model':
        models[artifact.id] = artifact
  uses = []
  for model in sorted(models.values(), key=lambda m: m.id):
    lineage = upstream(records, model)
    # Blessings whose producing execution (the Evaluator) read this model.
    blessings = [a for e in lineage.executions
                 if any(model.id in ids for ids in e.inputs.values())
                 for ids in e.outputs.values() for i in ids
                 for a in [lineage.artifacts.get(i)] if a is not None and a.type == 'ModelBlessing']
    pushed = [a for a in lineage.artifacts.values()
              if a.type == 'PushedModel' and a.properties.get('pushed')]
    producer = lineage.produced_by(model.id)
    run = ''
    if producer is not None:
      for context in store.get_contexts_by_execution(producer.id):
        if context.type == RUN_CONTEXT:
          run = context.name
    uses.append(SpanUse(model, run, bool(blessings[-1].properties.get('blessed'))
                        if blessings else None, pushed))
  return uses
