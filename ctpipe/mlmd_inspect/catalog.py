"""`inspect artifacts` and `inspect executions`: newest first, paged, by indexed fields."""
from typing import List, Optional

from ml_metadata.metadata_store import metadata_store

from ctpipe.metadata.records import RUN_CONTEXT, Artifact, Execution, Records


def _page(limit: int, offset: int, filter_query: str = '') -> metadata_store.ListOptions:
  return metadata_store.ListOptions(filter_query=filter_query, limit=limit + offset,
                                    order_by=metadata_store.OrderByField.ID, is_asc=False)


def _quoted(text: str) -> str:
  if "'" in text or '\\' in text:
    raise ValueError(f'names with quotes or backslashes are not supported: {text!r}')
  return f"'{text}'"


def list_artifacts(records: Records, type_name: Optional[str] = None, limit: int = 50,
                   offset: int = 0) -> List[Artifact]:
  if type_name is not None:
    known = sorted(t.name for t in records.store.get_artifact_types())
    if type_name not in known:
      raise LookupError(f'no artifact type {type_name!r}; this store has {", ".join(known)}')
  query = f'type = {_quoted(type_name)}' if type_name else ''
  protos = records.store.get_artifacts(list_options=_page(limit, offset, query))
  return [records.artifact(a) for a in protos[offset:offset + limit]]


def list_executions(records: Records, run: Optional[str] = None, limit: int = 50,
                    offset: int = 0) -> List[Execution]:
  store = records.store
  if run is not None:
    context = records.run_context(run)
    protos = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
    protos = protos[offset:offset + limit]
  else:
    protos = store.get_executions(list_options=_page(limit, offset))[offset:offset + limit]
  rows = records.executions(protos, with_events=True)
  for row in rows:  # a page of executions spans runs: say which each belongs to
    row.run = run or next((c.name for c in store.get_contexts_by_execution(row.id)
                           if c.type == RUN_CONTEXT), '')
  return rows
