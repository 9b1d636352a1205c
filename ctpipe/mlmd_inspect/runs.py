"""`inspect runs`: every pipeline run, newest first, one page at a time.

Runs are `pipeline_run` contexts, fetched by an ordered, limited query (no full scan),
so a store with thousands of runs answers as fast as one with ten.
"""
import dataclasses
from typing import Dict, List, Optional

from ml_metadata.metadata_store import metadata_store

from ctpipe.metadata.records import OUTPUT_EVENTS, RUN_CONTEXT, Records, timestamp, value_of

# Run context properties a trigger may be recorded under (ctpipe writes `reason`).
TRIGGER_PROPERTIES = ('reason', 'trigger')


@dataclasses.dataclass
class RunRow:
  run: str
  pipeline: str
  start: str
  end: str
  seconds: float
  status: str
  trigger: Optional[str]  # None: the run records no reason
  executed: List[str]
  cached: List[str]
  failed: List[str]
  blessed: Optional[bool]
  pushed_version: Optional[int]


def _status(states: List[str]) -> str:
  if 'FAILED' in states:
    return 'failed'
  if 'RUNNING' in states or 'NEW' in states:
    return 'running'
  if 'CANCELED' in states:
    return 'interrupted'
  return 'complete' if states else 'empty'


def list_runs(records: Records, limit: int = 20, offset: int = 0) -> List[RunRow]:
  contexts = records.store.get_contexts(list_options=metadata_store.ListOptions(
      filter_query=f"type = '{RUN_CONTEXT}'", limit=limit + offset,
      order_by=metadata_store.OrderByField.CREATE_TIME, is_asc=False))[offset:offset + limit]
  return _rows(records, contexts)


def list_runs_by_name(records: Records, names: List[str]) -> List[RunRow]:
  return _rows(records, [records.run_context(name) for name in names])


def _rows(records: Records, contexts) -> List[RunRow]:
  by_run = {c.id: sorted(records.store.get_executions_by_context(c.id), key=lambda e: e.id)
            for c in contexts}
  records.label([e.id for protos in by_run.values() for e in protos])  # one pass for the page
  return [_row(records, c, records.executions(by_run[c.id])) for c in contexts]


def _row(records: Records, context, executions) -> RunRow:
  store = records.store
  outputs: Dict[int, str] = {}
  if executions:
    for event in store.get_events_by_execution_ids([e.id for e in executions]):
      if event.type in OUTPUT_EVENTS:
        outputs[event.artifact_id] = ''
  artifacts = records.artifacts(outputs)
  blessings = [a for a in artifacts if a.type == 'ModelBlessing']
  pushes = [a for a in artifacts if a.type == 'PushedModel' and a.properties.get('pushed')]
  trigger = ''
  for key in TRIGGER_PROPERTIES:
    for props in (context.custom_properties, context.properties):
      if key in props and not trigger:
        trigger = str(value_of(props[key]))
  start = min((e.started_ms for e in executions), default=context.create_time_since_epoch)
  end = max((e.updated_ms for e in executions), default=start)
  return RunRow(
      run=context.name,
      pipeline=records.pipeline_of(executions[0].id) if executions else '',
      start=timestamp(start), end=timestamp(end), seconds=(end - start) / 1000.0,
      status=_status([e.state for e in executions]), trigger=trigger or None,
      executed=[e.node for e in executions if e.state == 'COMPLETE'],
      cached=[e.node for e in executions if e.state == 'CACHED'],
      failed=[e.node for e in executions if e.state == 'FAILED'],
      blessed=(bool(blessings[-1].properties.get('blessed')) if blessings else None),
      pushed_version=_version(pushes[-1].properties.get('pushed_version')) if pushes else None)


def _version(value) -> Optional[int]:
  try:
    return int(value)
  except (TypeError, ValueError):
    return None
