"""Spans rejected before ingestion because their files cannot be read, recorded in ML Metadata.

A rejection is an execution of type `ctpipe.SpanRejection` (span, reason, the files'
fingerprint) in the pipeline's context, under a `pipeline_run` context of its own whose
reason says why, so `ctpipe inspect runs` lists it like any gated run. A rejected span
never enters a window and never blocks the spans after it; once its files change (a
new fingerprint) it is tried again.
"""
import time

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import NODE_CONTEXT, PIPELINE_CONTEXT, RUN_CONTEXT, SPAN_REJECTION_TYPE

NODE_ID = 'SpanCheck'  # the node name rejections are shown under
REASON_PROPERTY = 'reason'  # on the run context, as run_reason records it


def _context(store: metadata_store.MetadataStore, type_name: str, name: str
             ) -> metadata_store_pb2.Context:
  """The context of that type and name, created (with its type) if missing."""
  found = store.get_context_by_type_and_name(type_name, name)
  if found is not None:
    return found
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
  [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])
  return store.get_contexts_by_id([context_id])[0]


def record(config: metadata_store_pb2.ConnectionConfig, pipeline_name: str, span: int,
           reason: str, fingerprint: str, trigger: str) -> int:
  """Records span `span` as rejected for `reason`; returns the execution id."""
  store = metadata_store.MetadataStore(config)
  type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(
      name=SPAN_REJECTION_TYPE, properties={
          'span': metadata_store_pb2.INT, 'reason': metadata_store_pb2.STRING,
          'fingerprint': metadata_store_pb2.STRING}))
  execution = metadata_store_pb2.Execution(
      type_id=type_id, last_known_state=metadata_store_pb2.Execution.FAILED)
  execution.properties['span'].int_value = span
  execution.properties['reason'].string_value = reason
  execution.properties['fingerprint'].string_value = fingerprint
  [execution_id] = store.put_executions([execution])
  run = _context(store, RUN_CONTEXT,
                 f'{pipeline_name}-span-{span}-rejected-{time.strftime("%Y%m%dT%H%M%S")}'
                 f'-{execution_id}')
  run.custom_properties[REASON_PROPERTY].string_value = (
      f'{trigger}; span {span} cannot be read: {reason}')
  store.put_contexts([run])
  contexts = [_context(store, PIPELINE_CONTEXT, pipeline_name),
              _context(store, NODE_CONTEXT, f'{pipeline_name}.{NODE_ID}'), run]
  store.put_attributions_and_associations([], [
      metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id)
      for c in contexts])
  return execution_id
