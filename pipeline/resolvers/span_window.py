"""SpanWindowStrategy: the training window's spans of an Examples channel, one artifact each.

The spans are those `pipeline.window` computed for the run (what is printed and
recorded), so the resolver cannot choose others. TFX's SpanRangeStrategy keeps every
artifact of a span, so a span ingested twice (its files changed) would be trained on
twice; this strategy keeps the newest artifact of each span, oldest span first.
"""
from typing import Dict, List, Optional, Sequence

from tfx import types
from tfx.dsl.components.common import resolver

SPAN_PROPERTY = 'span'


def span_of(artifact: types.Artifact) -> int:
  """ExampleGen records span as a custom property (older versions as a string)."""
  text = artifact.get_string_custom_property(SPAN_PROPERTY)
  return int(text) if text else artifact.get_int_custom_property(SPAN_PROPERTY)


def window_artifacts(artifacts: List[types.Artifact], spans: Sequence[int]
                     ) -> List[types.Artifact]:
  """One artifact per span of `spans` (the newest by id), oldest span first."""
  if not spans:
    raise ValueError('the training window names no span')
  latest: Dict[int, types.Artifact] = {}
  for artifact in artifacts:
    if not artifact.has_custom_property(SPAN_PROPERTY):
      raise ValueError(f'artifact {artifact.uri} has no span property')
    span = span_of(artifact)
    if span not in latest or artifact.id > latest[span].id:
      latest[span] = artifact
  return [latest[s] for s in sorted(set(spans)) if s in latest]


class SpanWindowStrategy(resolver.ResolverStrategy):
  """Resolver strategy for the training window's validated spans."""

  def __init__(self, spans: Sequence[int]):
    self._spans = [int(s) for s in spans]

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    result = {key: window_artifacts(artifacts, self._spans)
              for key, artifacts in input_dict.items()}
    if any(not artifacts for artifacts in result.values()):
      return None  # nothing validated yet: downstream nodes are skipped
    return result
