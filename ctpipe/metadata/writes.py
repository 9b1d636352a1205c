"""The records ctpipe adds to ML Metadata beside TFX's own: why a run happened, spans
that cannot be read, rollbacks, and executions a dead process left RUNNING.

Each writer is called under the home's lock, so no other writer races it.
"""
import getpass
import time
from typing import Dict, List, Optional, Sequence

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ctpipe.metadata import connection
from ctpipe.metadata.connection import (EXPERIMENT_CONTEXT, EXPERIMENT_RUN_TYPE, NODE_CONTEXT,
                                        PIPELINE_CONTEXT, RUN_CONTEXT)
from ctpipe.metadata.reader import SPAN_REJECTION_TYPE

# On a `pipeline_run` context: why the run happened (`inspect runs` shows it as the trigger).
REASON_PROPERTY = 'reason'
# On an execution marked CANCELED because its process died.
NOTE_PROPERTY = 'ctpipe_note'
ROLLBACK_TYPE = 'ctpipe.Rollback'
ROLLBACK_NODE = 'Rollback'
ROLLOUT_DECISION_TYPE = 'ctpipe.RolloutDecision'
ROLLOUT_DECISION_NODE = 'RolloutDecision'  # the node name decisions are shown under
SPAN_CHECK_NODE = 'SpanCheck'  # the node name span rejections are shown under


def record_reason(config: metadata_store_pb2.ConnectionConfig, after_execution_id: int,
                  reason: str) -> int:
  """Tags the runs of every execution newer than `after_execution_id`; returns how many.

  LocalDagRunner creates the run context; this tags it afterwards.
  """
  store = connection.connect(config)
  executions = store.get_executions(list_options=metadata_store.ListOptions(
      filter_query=f'id > {int(after_execution_id)}'))
  runs = {}
  for execution in executions:
    for context in store.get_contexts_by_execution(execution.id):
      if context.type == RUN_CONTEXT:
        runs[context.id] = context
  for context in runs.values():
    context.custom_properties[REASON_PROPERTY].string_value = reason
  if runs:
    store.put_contexts(list(runs.values()))
  return len(runs)


def cancel_orphaned_executions(config: metadata_store_pb2.ConnectionConfig) -> List[int]:
  """Marks every RUNNING execution CANCELED, with a note; returns their ids.

  Only called while holding the home's lock: no live run can own a RUNNING execution
  then, so ML Metadata stops claiming that something is still running.
  """
  store = connection.connect(config)
  running = store.get_executions(list_options=metadata_store.ListOptions(
      filter_query='last_known_state = RUNNING'))
  stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())
  for execution in running:
    execution.last_known_state = metadata_store_pb2.Execution.CANCELED
    execution.custom_properties[NOTE_PROPERTY].string_value = (
        f'its process died before it finished; marked canceled by the next run at {stamp}')
  if running:
    store.put_executions(running)
  return [e.id for e in running]


def _context(store: metadata_store.MetadataStore, type_name: str, name: str
             ) -> metadata_store_pb2.Context:
  """The context of that type and name, created (with its type) if missing."""
  found = store.get_context_by_type_and_name(type_name, name)
  if found is not None:
    return found
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
  [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])
  return store.get_contexts_by_id([context_id])[0]


def _put_execution(store: metadata_store.MetadataStore, type_name: str,
                   types: Dict[str, int], values: Dict[str, object],
                   state=metadata_store_pb2.Execution.COMPLETE) -> int:
  """An execution of `type_name` (its properties `types`, registered if new) holding
  `values` (None: left unset); returns its id."""
  type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(
      name=type_name, properties=types))
  execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=state)
  for name, value in values.items():
    if value is None:
      continue
    if types[name] == metadata_store_pb2.INT:
      execution.properties[name].int_value = int(value)
    else:
      execution.properties[name].string_value = str(value)
  [execution_id] = store.put_executions([execution])
  return execution_id


def record_span_rejection(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
                          span: int, reason: str, fingerprint: str, trigger: str) -> int:
  """Records span `span` as rejected for `reason`; returns the execution id.

  An execution of type `ctpipe.SpanRejection` (span, reason, the files' fingerprint) in
  the pipeline's context, under a `pipeline_run` context of its own whose reason says
  why, so `ctpipe inspect runs` lists it like any gated run.
  """
  store = connection.connect(config)
  execution_id = _put_execution(
      store, SPAN_REJECTION_TYPE,
      {'span': metadata_store_pb2.INT, 'reason': metadata_store_pb2.STRING,
       'fingerprint': metadata_store_pb2.STRING},
      {'span': span, 'reason': reason, 'fingerprint': fingerprint},
      metadata_store_pb2.Execution.FAILED)
  run = _context(store, RUN_CONTEXT,
                 f'{pipeline_name}-span-{span}-rejected-{time.strftime("%Y%m%dT%H%M%S")}'
                 f'-{execution_id}')
  run.custom_properties[REASON_PROPERTY].string_value = (
      f'{trigger}; span {span} cannot be read: {reason}')
  store.put_contexts([run])
  contexts = [_context(store, PIPELINE_CONTEXT, pipeline_name),
              _context(store, NODE_CONTEXT, f'{pipeline_name}.{SPAN_CHECK_NODE}'), run]
  store.put_attributions_and_associations([], [
      metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id)
      for c in contexts])
  return execution_id


def record_rollback(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
                    from_version: Optional[int], to_version: Optional[int], reason: str,
                    action: str = '') -> int:
  """A `ctpipe.Rollback` execution in the pipeline's context; returns its id. `action`:
  pin or clear (`ctpipe rollback`; default from `to_version`), or reject (automatic: the
  degraded version is rejected)."""
  store = connection.connect(config)
  execution_id = _put_execution(
      store, ROLLBACK_TYPE,
      {'from_version': metadata_store_pb2.INT, 'to_version': metadata_store_pb2.INT,
       'action': metadata_store_pb2.STRING, 'reason': metadata_store_pb2.STRING,
       'user': metadata_store_pb2.STRING},
      {'from_version': from_version, 'to_version': to_version,
       'action': action or ('clear' if to_version is None else 'pin'), 'reason': reason,
       'user': getpass.getuser()})
  pipeline_context = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
  if pipeline_context is not None:
    # Under a node of its own, reading the PushedModels of both versions: `inspect lineage
    # vN` shows what happened to a version after its push.
    node = _context(store, NODE_CONTEXT, f'{pipeline_name}.{ROLLBACK_NODE}')
    store.put_attributions_and_associations([], [
        metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id)
        for c in (pipeline_context, node)])
    pushed = _pushed_model_ids(store, pipeline_context.id,
                               [v for v in (from_version, to_version) if v is not None])
    if pushed:
      store.put_events([metadata_store_pb2.Event(artifact_id=a, execution_id=execution_id,
                                                 type=metadata_store_pb2.Event.INPUT)
                        for a in pushed])
  return execution_id


def _pushed_model_ids(store: metadata_store.MetadataStore, pipeline_context_id: int,
                      versions: Sequence[int]) -> List[int]:
  """The PushedModel artifacts of the pipeline that pushed these serving versions."""
  wanted = {str(v) for v in versions}
  found = []
  for artifact in store.get_artifacts_by_context(pipeline_context_id):
    pushed = artifact.custom_properties.get('pushed_version')
    if pushed is not None and pushed.HasField('string_value') and \
        pushed.string_value in wanted and artifact.custom_properties['pushed'].int_value:
      found.append(artifact.id)
  return found


def record_rollout_decision(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
                            action: str, candidate: int, stable: Optional[int],
                            strategy: str, reason: str, evidence: str, by: str) -> int:
  """A `ctpipe.RolloutDecision` execution; returns its id.

  It consumes the PushedModel artifacts of both versions (so their lineage shows it), holds
  the evidence as JSON text (MLMD's SQLite rounds doubles to 6 decimals), and has a
  `pipeline_run` context of its own whose reason says what was decided, so `inspect runs`
  lists it beside the runs.
  """
  store = connection.connect(config)
  execution_id = _put_execution(
      store, ROLLOUT_DECISION_TYPE,
      {'action': metadata_store_pb2.STRING, 'candidate_version': metadata_store_pb2.INT,
       'stable_version': metadata_store_pb2.INT, 'strategy': metadata_store_pb2.STRING,
       'reason': metadata_store_pb2.STRING, 'evidence': metadata_store_pb2.STRING,
       'decided_by': metadata_store_pb2.STRING, 'user': metadata_store_pb2.STRING},
      {'action': action, 'candidate_version': candidate, 'stable_version': stable,
       'strategy': strategy, 'reason': reason, 'evidence': evidence, 'decided_by': by,
       'user': getpass.getuser()})
  pipeline_context = _context(store, PIPELINE_CONTEXT, pipeline_name)
  run = _context(store, RUN_CONTEXT,
                 f'{pipeline_name}-rollout-{action}-v{candidate}-'
                 f'{time.strftime("%Y%m%dT%H%M%S")}-{execution_id}')
  run.custom_properties[REASON_PROPERTY].string_value = f'rollout {action} v{candidate}: {reason}'
  store.put_contexts([run])
  contexts = [pipeline_context, _context(store, NODE_CONTEXT,
                                         f'{pipeline_name}.{ROLLOUT_DECISION_NODE}'), run]
  pushed = _pushed_model_ids(store, pipeline_context.id,
                             [v for v in (candidate, stable) if v is not None])
  events = [metadata_store_pb2.Event(artifact_id=a, execution_id=execution_id,
                                     type=metadata_store_pb2.Event.INPUT) for a in pushed]
  if events:
    store.put_events(events)
  store.put_attributions_and_associations([], [
      metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id)
      for c in contexts])
  return execution_id


EXPERIMENT_NODE = 'Experiment'  # the node name experiment records are shown under


def record_experiment_run(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
                          experiment: str, run_name: str, artifact_ids: Sequence[int],
                          code_version: str, parameters: str = '{}', metrics: str = '{}',
                          note: str = '') -> int:
  """Files pipeline run `run_name` under experiment `experiment`; returns the record's id.

  The experiment is a `ctpipe.Experiment` context and the run's context its child (MLMD's
  parent contexts), so any MLMD client finds the runs of an experiment. A
  `ctpipe.ExperimentRun` execution in both contexts reads the run's model, evaluation and
  hyperparameters (`artifact_ids`), tying the experiment to their lineage, keeps what the
  store cannot tell otherwise (the code's version control revision, a note), and a copy
  of the run's parameters and overall metrics as JSON text for any MLMD client (MLMD's
  SQLite backend rounds doubles to 6 decimals).
  """
  if not experiment.strip():
    raise ValueError('an experiment needs a name')
  store = connection.connect(config)
  run = store.get_context_by_type_and_name(RUN_CONTEXT, run_name)
  if run is None:
    raise ValueError(f'no pipeline run {run_name!r} in the store')
  group = _context(store, EXPERIMENT_CONTEXT, experiment)
  if not any(p.id == group.id for p in store.get_parent_contexts_by_context(run.id)):
    store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run.id,
                                                                parent_id=group.id)])
  values = {'experiment': experiment, 'run': run_name, 'code_version': code_version,
            'parameters': parameters, 'metrics': metrics, 'note': note,
            'user': getpass.getuser()}
  execution_id = _put_execution(store, EXPERIMENT_RUN_TYPE,
                                {name: metadata_store_pb2.STRING for name in values}, values)
  contexts = [_context(store, PIPELINE_CONTEXT, pipeline_name),
              _context(store, NODE_CONTEXT, f'{pipeline_name}.{EXPERIMENT_NODE}'), run, group]
  if artifact_ids:
    store.put_events([metadata_store_pb2.Event(artifact_id=a, execution_id=execution_id,
                                               type=metadata_store_pb2.Event.INPUT)
                      for a in artifact_ids])
  store.put_attributions_and_associations([], [
      metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id)
      for c in contexts])
  return execution_id
