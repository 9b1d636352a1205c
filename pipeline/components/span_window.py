"""SpanWindowStrategy: the newest N spans of an Examples channel, one artifact per span.

TFX's SpanRangeStrategy keeps every artifact of a span, so a span ingested twice (its
files changed) would be trained on twice. This strategy keeps the newest artifact of
each span, then the newest `num_spans` spans, oldest first.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

SPAN_PROPERTY = 'span'


def span_of(artifact: types.Artifact) -> int:
  """ExampleGen records span as a custom property (older versions as a string)."""
  text = artifact.get_string_custom_property(SPAN_PROPERTY)
  return int(text) if text else artifact.get_int_custom_property(SPAN_PROPERTY)


def newest_spans(artifacts: List[types.Artifact], num_spans: int) -> List[types.Artifact]:
  """One artifact per span (the newest by id) for the `num_spans` newest spans."""
  if num_spans < 1:
    raise ValueError(f'num_spans must be >= 1, got {num_spans}')
  latest: Dict[int, types.Artifact] = {}
  for artifact in artifacts:
    if not artifact.has_custom_property(SPAN_PROPERTY):
      raise ValueError(f'artifact {artifact.uri} has no span property')
    span = span_of(artifact)
    if span not in latest or artifact.id > latest[span].id:
      latest[span] = artifact
  return [latest[s] for s in sorted(latest)[-num_spans:]]


class SpanWindowStrategy(resolver.ResolverStrategy):
  """Resolver strategy for a rolling window of validated spans."""

  def __init__(self, num_spans: int):
    self._num_spans = num_spans

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    result = {key: newest_spans(artifacts, self._num_spans)
              for key, artifacts in input_dict.items()}
    if any(not artifacts for artifacts in result.values()):
      return None  # nothing validated yet: downstream nodes are skipped
    return result
