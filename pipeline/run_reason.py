"""Why a pipeline run happened, recorded on its `pipeline_run` context in ML Metadata.

`ctpipe inspect runs` shows it as the run's trigger. LocalDagRunner creates the run
context; this tags it afterwards (under the home lock, so no other writer races it).
"""
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import RUN_CONTEXT

REASON_PROPERTY = 'reason'


def record_reason(config: metadata_store_pb2.ConnectionConfig, after_execution_id: int,
                  reason: str) -> int:
  """Tags the runs of every execution newer than `after_execution_id`; returns how many."""
  store = metadata_store.MetadataStore(config)
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
