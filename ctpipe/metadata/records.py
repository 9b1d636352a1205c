"""Plain views of MLMD records, and the lookups every reader shares.

Works on any TFX store: TFX 1.x records a `pipeline` context, one `pipeline_run`
context per run and a `node` context named `<pipeline>.<node id>` for each component;
nothing here depends on ctpipe's own components.
"""
import dataclasses
import datetime
import sqlite3
from typing import Dict, Iterable, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ctpipe.metadata.connection import NODE_CONTEXT, PIPELINE_CONTEXT, RUN_CONTEXT  # TFX names

EXECUTION_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
ARTIFACT_STATES = {v: k for k, v in metadata_store_pb2.Artifact.State.items()}
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
# Properties worth a column; the rest are shown in detail views and --json.
_HIDDEN_PROPERTIES = ('tfx_version', 'is_external', 'state', 'name', 'producer_component')


def value_of(value: metadata_store_pb2.Value):
  """A property's value as plain Python: a struct as a dict, a proto as its text."""
  kind = value.WhichOneof('value')
  if kind == 'struct_value':
    from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
    return json_format.MessageToDict(value.struct_value)
  if kind == 'proto_value':
    return str(value.proto_value)
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
      value = self.properties.get(key)
      # Plain values only: a struct (ExampleAnomalies' per-split `blessed`) is not a word.
      if isinstance(value, (int, float, str)) and value != '' and len(str(value)) <= 60:
        bits.append(f'{key}={value}')
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
  run: str = ''  # its pipeline run, where the listing says (inspect executions)

  @property
  def seconds(self) -> float:
    return max(0.0, (self.updated_ms - self.started_ms) / 1000.0)


class Records:
  """Cached type names and node names over one store."""

  def __init__(self, store: metadata_store.MetadataStore, sqlite_path: Optional[str] = None):
    """`sqlite_path`: the store's file, when it is SQLite, for the few direct reads."""
    self.store = store
    self.sqlite_path = sqlite_path
    self._artifact_types: Dict[int, str] = {}
    self._execution_types: Dict[int, str] = {}
    self._node_contexts: Optional[List[metadata_store_pb2.Context]] = None
    self._node_of: Dict[int, str] = {}
    self._pipeline_of: Dict[int, str] = {}

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

  def label(self, execution_ids: List[int]) -> None:
    """Node and pipeline names of executions, in one query per node/pipeline context.

    MLMD answers `get_contexts_by_execution` slowly, one query each; a pipeline has a few
    dozen node contexts, each asked once for the executions of the page (`id IN`).
    """
    wanted = sorted(set(execution_ids) - set(self._node_of))
    if not wanted:
      return
    if self.sqlite_path:
      self._label_from_sqlite(wanted)
      return
    if self._node_contexts is None:
      self._node_contexts = (self.store.get_contexts_by_type(NODE_CONTEXT)
                             + self.store.get_contexts_by_type(PIPELINE_CONTEXT))
    for start in range(0, len(wanted), 500):
      chunk = wanted[start:start + 500]
      options = metadata_store.ListOptions(filter_query=f'id IN ({",".join(map(str, chunk))})')
      for context in self._node_contexts:
        for execution in self.store.get_executions_by_context(context.id, list_options=options):
          if context.type == NODE_CONTEXT:
            self._node_of[execution.id] = context.name.split('.', 1)[-1]
          else:
            self._pipeline_of[execution.id] = context.name
    for execution_id in wanted:
      self._node_of.setdefault(execution_id, '?')

  def _label_from_sqlite(self, wanted: List[int]) -> None:
    """The same answer from MLMD's SQLite tables in one read-only query (schema checked)."""
    connection = sqlite3.connect(f'file:{self.sqlite_path}?mode=ro', uri=True)
    try:
      for start in range(0, len(wanted), 900):
        chunk = wanted[start:start + 900]
        rows = connection.execute(
            'SELECT a.execution_id, c.name, t.name FROM Association a '
            'JOIN Context c ON c.id = a.context_id JOIN Type t ON t.id = c.type_id '
            f'WHERE t.name IN (?, ?) AND a.execution_id IN ({",".join("?" * len(chunk))})',
            [NODE_CONTEXT, PIPELINE_CONTEXT, *chunk])
        for execution_id, context_name, type_name in rows:
          if type_name == NODE_CONTEXT:
            self._node_of[execution_id] = context_name.split('.', 1)[-1]
          else:
            self._pipeline_of[execution_id] = context_name
    finally:
      connection.close()
    for execution_id in wanted:
      self._node_of.setdefault(execution_id, '?')

  def node_name(self, execution_id: int) -> str:
    """The component id from the execution's node context (`<pipeline>.<node>`)."""
    self.label([execution_id])
    return self._node_of[execution_id]

  def pipeline_of(self, execution_id: int) -> str:
    self.label([execution_id])
    return self._pipeline_of.get(execution_id, '')

  def executions(self, protos: Iterable[metadata_store_pb2.Execution],
                 with_events: bool = False) -> List[Execution]:
    protos = list(protos)
    self.label([e.id for e in protos])
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
