"""EdgeExport: every pushed version also as a TensorFlow Lite model for on-device use.

Runs after the Pusher on exactly what it published, converts it with
`pipeline.edge_export` (the feature transformation inside), and publishes
`<serving base>/<model>.edge/<version>/model.tflite` and `signature.json` only
when the TFLite model's probabilities match the SavedModel's on evaluation examples.
The outcome is an `EdgeModel` artifact in ML Metadata. A failed export does not undo
the push (the SavedModel is served either way); the reason is recorded and printed.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.edge_export.executor import (
  EDGE_BASE_KEY,
  EDGE_MODEL_KEY,
  EXAMPLES_KEY,
  NUM_EXAMPLES_KEY,
  PUSHED_MODEL_KEY,
  EdgeExportExecutor,
)


class EdgeModel(types.Artifact):
  """A TFLite model published for devices, with its parity against the SavedModel."""
  TYPE_NAME = 'ctpipe.EdgeModel'


class EdgeExportSpec(ComponentSpec):
  PARAMETERS = {EDGE_BASE_KEY: ExecutionParameter(type=str),
                NUM_EXAMPLES_KEY: ExecutionParameter(type=int)}
  INPUTS = {PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
            EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {EDGE_MODEL_KEY: ChannelParameter(type=EdgeModel)}


class EdgeExport(base_component.BaseComponent):
  """Converts the pushed model to TFLite and publishes it when its answers match."""
  SPEC_CLASS = EdgeExportSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(EdgeExportExecutor)

  def __init__(self, pushed_model: types.BaseChannel, examples: types.BaseChannel,
               edge_base: str, num_examples: int = 512):
    super().__init__(spec=EdgeExportSpec(
        pushed_model=pushed_model, examples=examples, edge_base=edge_base,
        num_examples=num_examples, edge_model=types.Channel(type=EdgeModel)))

