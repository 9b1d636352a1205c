"""DataGate: the run stops before Transform when ExampleValidator found anomalies.

TFX's ExampleValidator only records anomalies; nothing downstream reads them. The
gate fails its execution when any split of the span has an anomaly, so LocalDagRunner
(and Vertex) stop the run there: Transform, Trainer and Pusher never run. A clean
span is re-published as `validated_examples` (hard links, or a copy where links are
impossible), and only validated spans ever enter the training window.

The gate also reads the header of each of the span's CSV files (`input_base`): a
duplicated column ingests as one feature holding the last column's values, which no
statistic can tell from real data, so a header that would ingest wrongly is an
anomaly of its own (schema skew), whichever executor ingested the span.
"""
from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipeline.components.data_gate.executor import (
  ANOMALIES_KEY,
  EXAMPLES_KEY,
  INPUT_BASE_KEY,
  VALIDATED_EXAMPLES_KEY,
  DataGateExecutor,
)


class DataGateSpec(ComponentSpec):
  PARAMETERS: Dict[str, Any] = {INPUT_BASE_KEY: ExecutionParameter(type=str, optional=True)}
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
  }
  OUTPUTS = {VALIDATED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class DataGate(base_component.BaseComponent):
  """Stops the run on anomalies; otherwise outputs the span as `validated_examples`."""
  SPEC_CLASS = DataGateSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DataGateExecutor)

  def __init__(self, examples: types.BaseChannel, anomalies: types.BaseChannel,
               input_base: Optional[str] = None):
    """`input_base`: ExampleGen's input base, whose span CSV headers are checked too."""
    super().__init__(spec=DataGateSpec(
        examples=examples, anomalies=anomalies, input_base=input_base,
        validated_examples=types.Channel(type=standard_artifacts.Examples)))

