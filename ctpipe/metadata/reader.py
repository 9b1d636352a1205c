"""Typed, read-only queries over one pipeline's records: what the run summary, the progress
display and the continuous loop ask.

Built on `records.Records` (type names, node names, property values), so one pipeline's
view and inspect's store-wide view answer the same way.
"""
import dataclasses
import os
from typing import Dict, List, Optional, Sequence

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ctpipe.metadata import connection
from ctpipe.metadata.connection import NODE_CONTEXT, RUN_CONTEXT
from ctpipe.metadata.records import EXECUTION_STATES, Records, value_of

# Written by writes.record_span_rejection: a span whose files could not be read.
SPAN_REJECTION_TYPE = 'ctpipe.SpanRejection'


@dataclasses.dataclass(frozen=True)
class ExecutionInfo:
  id: int
  node_id: str
  state: str  # NEW, RUNNING, COMPLETE, CACHED, FAILED, CANCELED
  created_ms: int
  updated_ms: int

  @property
  def seconds(self) -> float:
    return max(0.0, (self.updated_ms - self.created_ms) / 1000.0)


@dataclasses.dataclass(frozen=True)
class ArtifactInfo:
  id: int
  type_name: str
  uri: str
  properties: Dict[str, object]
  custom_properties: Dict[str, object]
  created_ms: int

  @property
  def span(self) -> Optional[int]:
    """ExampleGen records span as a custom property; other artifacts as a property."""
    value = self.custom_properties.get('span', self.properties.get('span'))
    return int(value) if value not in (None, '') else None


@dataclasses.dataclass(frozen=True)
class SpanRejection:
  span: int
  reason: str
  fingerprint: str  # of the files as they were rejected
  execution_id: int


def _artifact(artifact: metadata_store_pb2.Artifact, type_name: str) -> ArtifactInfo:
  return ArtifactInfo(
      id=artifact.id, type_name=type_name, uri=artifact.uri,
      properties={k: value_of(v) for k, v in artifact.properties.items()},
      custom_properties={k: value_of(v) for k, v in artifact.custom_properties.items()},
      created_ms=artifact.create_time_since_epoch)


class MetadataReader:
  """Typed, read-only queries over one pipeline's records in an MLMD store."""

  def __init__(self, config: metadata_store_pb2.ConnectionConfig, pipeline_name: str):
    self._store = connection.connect(config)
    self._records = Records(self._store)
    self._pipeline_name = pipeline_name

  @classmethod
  def open_sqlite(cls, path: str, pipeline_name: str) -> 'MetadataReader':
    if not os.path.exists(path):
      raise FileNotFoundError(f'no metadata store at {path}')
    return cls(connection.sqlite_config(path), pipeline_name)

  @property
  def store(self) -> metadata_store.MetadataStore:
    return self._store

  def _node_context(self, node_id: str):
    return self._store.get_context_by_type_and_name(
        NODE_CONTEXT, f'{self._pipeline_name}.{node_id}')

  def _artifact_type_name(self, type_id: int) -> str:
    return self._records.artifact_type(type_id)

  def node_of(self, execution_id: int) -> str:
    prefix = f'{self._pipeline_name}.'
    for context in self._store.get_contexts_by_execution(execution_id):
      if context.name.startswith(prefix) and context.type == NODE_CONTEXT:
        return context.name[len(prefix):]
    for context in self._store.get_contexts_by_execution(execution_id):
      if context.name.startswith(prefix):
        return context.name[len(prefix):]
    return '?'

  def _execution(self, execution: metadata_store_pb2.Execution) -> ExecutionInfo:
    return ExecutionInfo(
        id=execution.id, node_id=self.node_of(execution.id),
        state=EXECUTION_STATES.get(execution.last_known_state, 'UNKNOWN'),
        created_ms=execution.create_time_since_epoch,
        updated_ms=execution.last_update_time_since_epoch)

  def max_execution_id(self) -> int:
    executions = self._store.get_executions(list_options=metadata_store.ListOptions(
        limit=1, order_by=metadata_store.OrderByField.ID, is_asc=False))
    return executions[0].id if executions else 0

  def executions_after(self, execution_id: int) -> List[ExecutionInfo]:
    """Executions with a larger id than `execution_id`, oldest first."""
    executions = self._store.get_executions(list_options=metadata_store.ListOptions(
        filter_query=f'id > {int(execution_id)}', order_by=metadata_store.OrderByField.ID,
        is_asc=True))
    return [self._execution(e) for e in executions]

  def run_of(self, execution_id: int) -> str:
    """The name of the pipeline run an execution belongs to ('' if none)."""
    return next((c.name for c in self._store.get_contexts_by_execution(execution_id)
                 if c.type == RUN_CONTEXT), '')

  def run_ids(self) -> List[str]:
    """Pipeline run ids in the store, oldest first (one pipeline per store here)."""
    runs = self._store.get_contexts_by_type(RUN_CONTEXT)
    return [c.name for c in sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))]

  def run_executions(self, run_id: str) -> List[ExecutionInfo]:
    context = self._store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
      return []
    return sorted((self._execution(e) for e in self._store.get_executions_by_context(context.id)),
                  key=lambda e: e.id)

  def node_outputs(self, node_id: str, type_name: Optional[str] = None) -> List[ArtifactInfo]:
    """Live artifacts published by a node over all runs, oldest first."""
    context = self._node_context(node_id)
    if context is None:
      return []
    execution_ids = [e.id for e in self._store.get_executions_by_context(context.id)]
    if not execution_ids:
      return []
    output_ids = {e.artifact_id for e in self._store.get_events_by_execution_ids(execution_ids)
                  if e.type == metadata_store_pb2.Event.OUTPUT}
    found = [_artifact(a, self._artifact_type_name(a.type_id))
             for a in self._store.get_artifacts_by_id(list(output_ids))
             if a.state == metadata_store_pb2.Artifact.LIVE]
    if type_name:
      found = [a for a in found if a.type_name == type_name]
    return sorted(found, key=lambda a: a.id)

  def execution_outputs(self, execution_id: int) -> Dict[str, List[ArtifactInfo]]:
    """Output artifacts of one execution, by output key."""
    events = self._store.get_events_by_execution_ids([execution_id])
    by_id: Dict[int, str] = {}
    for event in events:
      if event.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT):
        key = event.path.steps[0].key if event.path.steps else ''
        by_id[event.artifact_id] = key
    result: Dict[str, List[ArtifactInfo]] = {}
    for artifact in self._store.get_artifacts_by_id(list(by_id)):
      result.setdefault(by_id[artifact.id], []).append(
          _artifact(artifact, self._artifact_type_name(artifact.type_id)))
    return result

  def execution_inputs(self, execution_id: int) -> Dict[str, List[ArtifactInfo]]:
    """Input artifacts of one execution, by input key."""
    events = self._store.get_events_by_execution_ids([execution_id])
    by_id: Dict[int, str] = {}
    for event in events:
      if event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
        by_id[event.artifact_id] = event.path.steps[0].key if event.path.steps else ''
    result: Dict[str, List[ArtifactInfo]] = {}
    for artifact in self._store.get_artifacts_by_id(list(by_id)):
      result.setdefault(by_id[artifact.id], []).append(
          _artifact(artifact, self._artifact_type_name(artifact.type_id)))
    return result

  def runs_of_artifact(self, artifact_id: int) -> List[str]:
    """Names of the runs whose executions produced or read the artifact, oldest first."""
    found = []
    for event in self._store.get_events_by_artifact_ids([artifact_id]):
      for context in self._store.get_contexts_by_execution(event.execution_id):
        if context.type == RUN_CONTEXT and context.name not in found:
          found.append(context.name)
    return found

  def span_rejections(self) -> Dict[int, 'SpanRejection']:
    """The newest rejection of each span whose files could not be read."""
    executions = self._store.get_executions_by_type(SPAN_REJECTION_TYPE)
    found: Dict[int, SpanRejection] = {}
    for execution in sorted(executions, key=lambda e: e.id):
      props = execution.properties
      span = int(props['span'].int_value)
      found[span] = SpanRejection(span, props['reason'].string_value,
                                  props['fingerprint'].string_value, execution.id)
    return found

  def spans_of(self, node_id: str, type_name: str = 'Examples') -> List[int]:
    """Distinct spans of the Examples a node has published, ascending."""
    return sorted({a.span for a in self.node_outputs(node_id, type_name) if a.span is not None})


def executions_by_node(executions: Sequence[ExecutionInfo]) -> Dict[str, ExecutionInfo]:
  """The last execution of each node in `executions`."""
  result: Dict[str, ExecutionInfo] = {}
  for execution in executions:
    result[execution.node_id] = execution
  return result
