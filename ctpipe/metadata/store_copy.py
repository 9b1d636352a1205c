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


def _fresh(record, type_ids: Dict[int, int]):
  """A copy of a context, artifact or execution for the target: no id or times, its type's id."""
  copy = type(record)()
  copy.CopyFrom(record)
  for field in ('id', 'create_time_since_epoch', 'last_update_time_since_epoch'):
    copy.ClearField(field)
  copy.type_id = type_ids[record.type_id]
  return copy


def _put_all(records, type_ids: Dict[int, int], putter) -> Dict[int, object]:
  """Puts fresh copies of `records` in one call, in id order; source id -> stored copy."""
  ordered = sorted(records, key=lambda r: r.id)
  copies = [_fresh(r, type_ids) for r in ordered]
  for copy, new_id in zip(copies, putter(copies) if copies else []):
    copy.id = new_id
  return {r.id: copy for r, copy in zip(ordered, copies)}


def copy_store(source: metadata_store.MetadataStore,
               target: metadata_store.MetadataStore) -> CopyCounts:
  if target.get_contexts() or target.get_executions():
    raise ValueError('the target metadata store is not empty; copy into an empty one')
  artifact_types = _copy_types(source.get_artifact_types, target.put_artifact_type)
  execution_types = _copy_types(source.get_execution_types, target.put_execution_type)
  context_types = _copy_types(source.get_context_types, target.put_context_type)
  counts = CopyCounts()

  contexts = _put_all(source.get_contexts(), context_types, target.put_contexts)
  artifacts = _put_all(source.get_artifacts(), artifact_types, target.put_artifacts)
  counts.contexts, counts.artifacts = len(contexts), len(artifacts)

  for execution in sorted(source.get_executions(), key=lambda e: e.id):
    copy = _fresh(execution, execution_types)
    pairs = []
    for event in sorted(source.get_events_by_execution_ids([execution.id]),
                        key=lambda e: (e.milliseconds_since_epoch, e.artifact_id)):
      new_event = metadata_store_pb2.Event(type=event.type, path=event.path)
      pairs.append((artifacts[event.artifact_id], new_event))
    linked = [contexts[c.id] for c in source.get_contexts_by_execution(execution.id)]
    target.put_execution(copy, pairs, linked, reuse_context_if_already_exist=True)
    counts.executions += 1
  return counts
