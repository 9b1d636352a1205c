"""NewestArtifactStrategy: the newest artifact of each channel, or none at all.

TFX's LatestArtifactStrategy returns None when a channel is empty, which fails the
resolver's execution on every first run. An empty result is the honest answer for a
reference that does not exist yet (the first training window), and an optional
input then receives nothing.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver


class NewestArtifactStrategy(resolver.ResolverStrategy):
  """Resolves each channel to [its artifact with the largest id], or [] when it has none."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    return {key: sorted(artifacts, key=lambda a: a.id)[-1:]
            for key, artifacts in input_dict.items()}
