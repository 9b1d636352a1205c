"""Copies every record of one ML Metadata store into another (e.g. SQLite into a team's MySQL).

Types, contexts, artifacts, executions, their events and context links are re-created
through MLMD's own API in id order, so runs keep their order; ids and create times are
the target's. The target should be empty: records are added, never merged.
"""
import dataclasses
from typing import Dict

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2


@dataclasses.dataclass
class CopyCounts:
  contexts: int = 0
  artifacts: int = 0
  executions: int = 0


def _copy_types(getter, putter) -> Dict[int, int]:
  mapping = {}
  for source_type in getter():
    new_type = type(source_type)()
    new_type.CopyFrom(source_type)
    new_type.ClearField('id')
    mapping[source_type.id] = putter(new_type, can_add_fields=True)
  return mapping


def copy_store(source: metadata_store.MetadataStore,
               target: metadata_store.MetadataStore) -> CopyCounts:
  if target.get_contexts() or target.get_executions():
    raise ValueError('the target metadata store is not empty; copy into an empty one')
  artifact_types = _copy_types(source.get_artifact_types, target.put_artifact_type)
  execution_types = _copy_types(source.get_execution_types, target.put_execution_type)
  context_types = _copy_types(source.get_context_types, target.put_context_type)
  counts = CopyCounts()

  contexts: Dict[int, metadata_store_pb2.Context] = {}
  for context in sorted(source.get_contexts(), key=lambda c: c.id):
    copy = metadata_store_pb2.Context()
    copy.CopyFrom(context)
    for field in ('id', 'create_time_since_epoch', 'last_update_time_since_epoch'):
      copy.ClearField(field)
    copy.type_id = context_types[context.type_id]
    [copy.id] = target.put_contexts([copy])
    contexts[context.id] = copy
    counts.contexts += 1

  artifacts: Dict[int, metadata_store_pb2.Artifact] = {}
  for artifact in sorted(source.get_artifacts(), key=lambda a: a.id):
    copy = metadata_store_pb2.Artifact()
    copy.CopyFrom(artifact)
    for field in ('id', 'create_time_since_epoch', 'last_update_time_since_epoch'):
      copy.ClearField(field)
    copy.type_id = artifact_types[artifact.type_id]
    [copy.id] = target.put_artifacts([copy])
    artifacts[artifact.id] = copy
    counts.artifacts += 1

  for execution in sorted(source.get_executions(), key=lambda e: e.id):
    copy = metadata_store_pb2.Execution()
    copy.CopyFrom(execution)
    for field in ('id', 'create_time_since_epoch', 'last_update_time_since_epoch'):
      copy.ClearField(field)
    copy.type_id = execution_types[execution.type_id]
    pairs = []
    for event in sorted(source.get_events_by_execution_ids([execution.id]),
                        key=lambda e: (e.milliseconds_since_epoch, e.artifact_id)):
      new_event = metadata_store_pb2.Event(type=event.type, path=event.path)
      pairs.append((artifacts[event.artifact_id], new_event))
    linked = [contexts[c.id] for c in source.get_contexts_by_execution(execution.id)]
    target.put_execution(copy, pairs, linked, reuse_context_if_already_exist=True)
    counts.executions += 1
  return counts
