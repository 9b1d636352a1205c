"""ServingCheck: the candidate must serve before it is pushed (InfraValidator without Docker).

Runs `pipeline.serving_check` on the blessed candidate and writes an `InfraBlessing`
the Pusher requires. When the check passes, the artifact holds the model with its
TF Serving warmup requests (`stamped_model/`, as InfraValidator's `make_warmup`
does), and that copy is what gets pushed. The outcome and its reason are custom
properties of the artifact, so they stay in ML Metadata.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.serving_check.executor import (
  EXAMPLES_KEY,
  INFRA_BLESSING_KEY,
  MODEL_BLESSING_KEY,
  MODEL_KEY,
  MODEL_NAME_KEY,
  NUM_EXAMPLES_KEY,
  ServingCheckExecutor,
)


class ServingCheckSpec(ComponentSpec):
  PARAMETERS = {MODEL_NAME_KEY: ExecutionParameter(type=str),
                NUM_EXAMPLES_KEY: ExecutionParameter(type=int)}
  INPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
            MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
            EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {INFRA_BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing)}


class ServingCheck(base_component.BaseComponent):
  """Loads the blessed candidate through the model server and checks its answers."""
  SPEC_CLASS = ServingCheckSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ServingCheckExecutor)

  def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
               examples: types.BaseChannel, model_name: str, num_examples: int = 32):
    super().__init__(spec=ServingCheckSpec(
        model=model, model_blessing=model_blessing, examples=examples, model_name=model_name,
        num_examples=num_examples,
        infra_blessing=types.Channel(type=standard_artifacts.InfraBlessing)))

