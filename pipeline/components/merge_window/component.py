"""MergeWindow: the training window's spans as one Examples artifact, by hard links.

Transform and Evaluator treat every input artifact as its own Beam dataset, so a
window of N small spans costs N times their fixed overhead. Merging the window's files into one
artifact, without copying them, makes them one dataset. The merged artifact records
which spans it holds (`window_spans`) and takes the newest span as its own `span`.
"""

from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from pipeline.components.merge_window.executor import (
  EXAMPLES_KEY,
  MERGED_KEY,
  MergeWindowExecutor,
)


class MergeWindowSpec(ComponentSpec):
  PARAMETERS: Dict[str, Any] = {}
  INPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {MERGED_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class MergeWindow(base_component.BaseComponent):
  """One Examples artifact holding every span of the training window."""
  SPEC_CLASS = MergeWindowSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(MergeWindowExecutor)

  def __init__(self, examples: types.BaseChannel):
    super().__init__(spec=MergeWindowSpec(
        examples=examples, merged_examples=types.Channel(type=standard_artifacts.Examples)))

