"""DriftReferenceStrategy: the statistics a new span's drift is measured against.

The newest training window's statistics (TrainingStatistics) whose window ends before the
new span: what the model in production learned from, the first time the span arrives.
A re-run of a span that a window already holds is compared with the window before it,
not with a window that contains the span itself (which measured the span against itself
and raised drift on a plain re-run). No such window: no reference, and DriftCheck says so.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

from pipeline.resolvers.span_window import span_of

WINDOW_SPANS_PROPERTY = 'window_spans'  # MergeWindow's record of the spans it merged
_INPUT_EVENTS = (1, 3)  # metadata_store_pb2.Event.INPUT, DECLARED_INPUT
_OUTPUT_EVENTS = (2, 4)  # OUTPUT, DECLARED_OUTPUT


def _last_span_of_window(store, statistics_id: int) -> Optional[int]:
  """The newest span of the examples the statistics were computed from."""
  producers = [e.execution_id for e in store.get_events_by_artifact_ids([statistics_id])
               if e.type in _OUTPUT_EVENTS]
  if not producers:
    return None
  inputs = [e.artifact_id for e in store.get_events_by_execution_ids(producers[:1])
            if e.type in _INPUT_EVENTS]
  spans = []
  for artifact in store.get_artifacts_by_id(inputs):
    window = artifact.custom_properties.get(WINDOW_SPANS_PROPERTY)
    if window is not None and window.string_value:
      spans.extend(int(s) for s in window.string_value.split(','))
    elif 'span' in artifact.properties:
      spans.append(artifact.properties['span'].int_value)
  return max(spans) if spans else None


class DriftReferenceStrategy(resolver.ResolverStrategy):
  """`statistics`: the newest whose window ends before the span of `examples` (or none)."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    examples = input_dict.get('examples') or []
    span = max((span_of(e) for e in examples), default=None)
    chosen: List[types.Artifact] = []
    for statistics in sorted(input_dict.get('statistics') or [], key=lambda a: -a.id):
      last = _last_span_of_window(store, statistics.id)
      if span is None or (last is not None and last < span):
        chosen = [statistics]
        break
    return {'statistics': chosen, 'examples': examples}
