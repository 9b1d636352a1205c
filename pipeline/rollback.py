"""`ctpipe rollback`: serve a previous version, and say so in ML Metadata.

The choice is a pin in the model base path's `serving_policy.json`, which the model
server polls (as TF Serving's `specific` version policy would). A later push still
publishes its version but does not take over while the pin holds: the Pusher records
and the run prints that a rollback is in effect. `--clear` follows the newest again.
"""
import dataclasses
import getpass
import time
from typing import Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from model_server import tf_serving_config, versions

EXECUTION_TYPE = 'ctpipe.Rollback'


@dataclasses.dataclass(frozen=True)
class RollbackResult:
  from_version: Optional[int]
  to_version: Optional[int]  # None: cleared, the newest version serves
  execution_id: int


def _record(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
            from_version: Optional[int], to_version: Optional[int], reason: str) -> int:
  store = metadata_store.MetadataStore(config)
  type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(
      name=EXECUTION_TYPE, properties={
          'from_version': metadata_store_pb2.INT, 'to_version': metadata_store_pb2.INT,
          'action': metadata_store_pb2.STRING, 'reason': metadata_store_pb2.STRING,
          'user': metadata_store_pb2.STRING}))
  execution = metadata_store_pb2.Execution(
      type_id=type_id, last_known_state=metadata_store_pb2.Execution.COMPLETE)
  execution.properties['action'].string_value = 'clear' if to_version is None else 'pin'
  if from_version is not None:
    execution.properties['from_version'].int_value = from_version
  if to_version is not None:
    execution.properties['to_version'].int_value = to_version
  execution.properties['reason'].string_value = reason
  execution.properties['user'].string_value = getpass.getuser()
  [execution_id] = store.put_executions([execution])
  pipeline_context = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline_context is not None:
    store.put_attributions_and_associations(
        [], [metadata_store_pb2.Association(context_id=pipeline_context.id,
                                            execution_id=execution_id)])
  return execution_id


def rollback(model_base: str, config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
             to_version: Optional[int] = None, reason: str = '', clear: bool = False
             ) -> RollbackResult:
  """Pins `to_version` (default: the version before the one now targeted)."""
  available = versions.list_versions(model_base)
  if not available:
    raise ValueError(f'no versions under {model_base}: nothing to roll back')
  current = versions.target_version(model_base)
  policy = versions.read_policy(model_base)
  if clear:
    policy.pop('pinned', None)
    policy.update(cleared_at=time.strftime('%Y-%m-%dT%H:%M:%S'), reason=reason)
    versions.write_policy(model_base, policy)
    tf_serving_config.write_for(model_base)
    return RollbackResult(current, None, _record(config, pipeline_name, current, None, reason))
  if to_version is None:
    older = [v for v in available if current is not None and v < current]
    if not older:
      raise ValueError(f'version {current} is the oldest under {model_base}; give --to')
    to_version = older[-1]
  if to_version not in available:
    raise ValueError(f'version {to_version} not found under {model_base}; '
                     f'available: {available}')
  policy.update(pinned=to_version, pinned_at=time.strftime('%Y-%m-%dT%H:%M:%S'),
                previous=current, reason=reason)
  versions.write_policy(model_base, policy)
  tf_serving_config.write_for(model_base)
  return RollbackResult(current, to_version,
                        _record(config, pipeline_name, current, to_version, reason))
