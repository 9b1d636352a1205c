"""Plain views of MLMD records, and the lookups every inspect command shares.

Works on any TFX store: TFX 1.x records a `pipeline` context, one `pipeline_run`
context per run and a `node` context named `<pipeline>.<node id>` for each component;
nothing here depends on ctpipe's own components.
"""
import dataclasses
import datetime
from typing import Dict, Iterable, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT = 'pipeline_run'
NODE_CONTEXT = 'node'
PIPELINE_CONTEXT = 'pipeline'
EXECUTION_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
ARTIFACT_STATES = {v: k for k, v in metadata_store_pb2.Artifact.State.items()}
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
# Properties worth a column; the rest are shown in detail views and --json.
_HIDDEN_PROPERTIES = ('tfx_version', 'is_external', 'state', 'name', 'producer_component')


def value_of(value: metadata_store_pb2.Value):
  kind = value.WhichOneof('value')
  if kind in ('proto_value', 'struct_value'):
    return str(getattr(value, kind))
  return getattr(value, kind) if kind else None


def timestamp(ms: int) -> str:
  if not ms:
    return ''
  return datetime.datetime.fromtimestamp(ms / 1000).strftime('%Y-%m-%d %H:%M:%S')


@dataclasses.dataclass
class Artifact:
  id: int
  type: str
  uri: str
  state: str
  created: str
  properties: Dict[str, object]

  @property
  def span(self) -> Optional[int]:
    value = self.properties.get('span')
    return int(value) if value not in (None, '') else None

  def brief(self) -> str:
    """Type, id and the properties that identify it (span, version, blessing)."""
    bits = []
    for key in ('span', 'version', 'split_names', 'blessed', 'pushed', 'pushed_version'):
      if key in self.properties and self.properties[key] not in (None, ''):
        bits.append(f'{key}={self.properties[key]}')
    return f'{self.type} #{self.id}' + (f' ({", ".join(bits)})' if bits else '')


@dataclasses.dataclass
class Execution:
  id: int
  node: str
  type: str
  state: str
  started_ms: int
  updated_ms: int
  properties: Dict[str, object]
  inputs: Dict[str, List[int]] = dataclasses.field(default_factory=dict)
  outputs: Dict[str, List[int]] = dataclasses.field(default_factory=dict)

  @property
  def seconds(self) -> float:
    return max(0.0, (self.updated_ms - self.started_ms) / 1000.0)


class Records:
  """Cached type names and node names over one store."""

  def __init__(self, store: metadata_store.MetadataStore):
    self.store = store
    self._artifact_types: Dict[int, str] = {}
    self._execution_types: Dict[int, str] = {}
    self._contexts_cache: Dict[int, List[metadata_store_pb2.Context]] = {}

  def artifact_type(self, type_id: int) -> str:
    if type_id not in self._artifact_types:
      for t in self.store.get_artifact_types():
        self._artifact_types[t.id] = t.name
    return self._artifact_types.get(type_id, f'type#{type_id}')

  def execution_type(self, type_id: int) -> str:
    if type_id not in self._execution_types:
      for t in self.store.get_execution_types():
        self._execution_types[t.id] = t.name
    return self._execution_types.get(type_id, f'type#{type_id}')

  def artifact(self, proto: metadata_store_pb2.Artifact) -> Artifact:
    properties = {k: value_of(v) for k, v in proto.properties.items()}
    properties.update({k: value_of(v) for k, v in proto.custom_properties.items()
                       if k not in _HIDDEN_PROPERTIES})
    return Artifact(proto.id, self.artifact_type(proto.type_id), proto.uri,
                    ARTIFACT_STATES.get(proto.state, 'UNKNOWN'),
                    timestamp(proto.create_time_since_epoch), properties)

  def artifacts(self, ids: Iterable[int]) -> List[Artifact]:
    ids = sorted(set(ids))
    return [self.artifact(a) for a in self.store.get_artifacts_by_id(ids)] if ids else []

  def _contexts(self, execution_id: int) -> List[metadata_store_pb2.Context]:
    if execution_id not in self._contexts_cache:
      self._contexts_cache[execution_id] = self.store.get_contexts_by_execution(execution_id)
    return self._contexts_cache[execution_id]

  def node_name(self, execution_id: int) -> str:
    """The component id from the execution's node context (`<pipeline>.<node>`)."""
    for context in self._contexts(execution_id):
      if context.type == NODE_CONTEXT:
        return context.name.split('.', 1)[-1]
    return '?'

  def pipeline_of(self, execution_id: int) -> str:
    for context in self._contexts(execution_id):
      if context.type == PIPELINE_CONTEXT:
        return context.name
    return ''

  def executions(self, protos: Iterable[metadata_store_pb2.Execution],
                 with_events: bool = False) -> List[Execution]:
    protos = list(protos)
    result = []
    for e in protos:
      properties = {k: value_of(v) for k, v in e.properties.items()}
      properties.update({k: value_of(v) for k, v in e.custom_properties.items()})
      result.append(Execution(e.id, self.node_name(e.id), self.execution_type(e.type_id),
                              EXECUTION_STATES.get(e.last_known_state, 'UNKNOWN'),
                              e.create_time_since_epoch, e.last_update_time_since_epoch,
                              properties))
    if with_events and result:
      by_id = {e.id: e for e in result}
      for event in self.store.get_events_by_execution_ids(list(by_id)):
        key = event.path.steps[0].key if event.path.steps else ''
        if event.type in INPUT_EVENTS:
          by_id[event.execution_id].inputs.setdefault(key, []).append(event.artifact_id)
        elif event.type in OUTPUT_EVENTS:
          by_id[event.execution_id].outputs.setdefault(key, []).append(event.artifact_id)
    return result

  def run_context(self, run: str) -> metadata_store_pb2.Context:
    context = self.store.get_context_by_type_and_name(RUN_CONTEXT, run)
    if context is None:
      raise LookupError(f'no run {run!r} in this store (see `ctpipe inspect runs`)')
    return context
