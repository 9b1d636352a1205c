"""One run seen whole: its executions, the artifacts they read and wrote, and their spans."""
from typing import Dict, List, Optional

from ctpipe.metadata.records import INPUT_EVENTS, OUTPUT_EVENTS, Artifact, Execution, Records
from ctpipe.mlmd_inspect.runs import RunRow


def data_span(records: Records, artifact: Artifact, depth: int = 0) -> Optional[int]:
  """The span an artifact describes: its own, else that of the data its producer read.

  TFX records `span` on Examples; statistics and anomalies carry 0, so this follows
  the producing execution's inputs back (anomalies <- statistics <- examples).
  """
  if artifact.type == 'Examples' or depth > 3:
    return artifact.span
  store = records.store
  producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id])
               if e.type in OUTPUT_EVENTS]
  if not producers:
    return None
  inputs = [e.artifact_id for e in store.get_events_by_execution_ids(producers[:1])
            if e.type in INPUT_EVENTS]
  found = [data_span(records, a, depth + 1) for a in records.artifacts(inputs)
           if a.type in ('Examples', 'ExampleStatistics')]
  found = [span for span in found if span is not None]
  return max(found) if found else None


class RunView:
  """A run's executions and every artifact they read or wrote."""

  def __init__(self, records: Records, run: RunRow):
    self._records = records
    self.row = run
    context = records.run_context(run.run)
    protos = sorted(records.store.get_executions_by_context(context.id), key=lambda e: e.id)
    self.executions: List[Execution] = records.executions(protos, with_events=True)
    ids = {i for e in self.executions for v in list(e.inputs.values()) + list(e.outputs.values())
           for i in v}
    self.artifacts: Dict[int, Artifact] = {a.id: a for a in records.artifacts(ids)}

  def span(self, artifact: Artifact) -> Optional[int]:
    return data_span(self._records, artifact)

  def outputs_of_type(self, type_name: str) -> List[Artifact]:
    return [self.artifacts[i] for e in self.executions for ids in e.outputs.values()
            for i in ids if i in self.artifacts and self.artifacts[i].type == type_name]
