"""Executions left RUNNING by a process that died (killed, out of memory, power cut).

Only called while holding the home's lock: no live run can own a RUNNING execution
then, so each one is marked CANCELED with a note, and ML Metadata stops claiming
that something is still running.
"""
import time
from typing import List

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

NOTE_PROPERTY = 'ctpipe_note'


def cancel_orphaned_executions(config: metadata_store_pb2.ConnectionConfig) -> List[int]:
  """Marks every RUNNING execution CANCELED; returns their ids."""
  store = metadata_store.MetadataStore(config)
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
