"""SchemaReview: compares SchemaGen's inferred schema with the curated one, every run.

It never changes the curated schema: it records the proposed updates (one line each,
in `proposals.txt`, and their count as the `num_proposals` property) for a person to
review and apply with `ctpipe schema`.
"""

from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from pipeline.components.schema_review.executor import (
  CURATED_KEY,
  INFERRED_KEY,
  REVIEW_KEY,
  SchemaReviewExecutor,
)


class SchemaProposals(types.Artifact):
  """Proposed updates to the curated schema (text, one per line)."""
  TYPE_NAME = 'ctpipe.SchemaProposals'


class SchemaReviewSpec(ComponentSpec):
  PARAMETERS: Dict[str, Any] = {}
  INPUTS = {
      CURATED_KEY: ChannelParameter(type=standard_artifacts.Schema),
      INFERRED_KEY: ChannelParameter(type=standard_artifacts.Schema),
  }
  OUTPUTS = {REVIEW_KEY: ChannelParameter(type=SchemaProposals)}


class SchemaReview(base_component.BaseComponent):
  """Records how the data's inferred schema differs from the curated one."""
  SPEC_CLASS = SchemaReviewSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(SchemaReviewExecutor)

  def __init__(self, curated_schema: types.BaseChannel, inferred_schema: types.BaseChannel):
    super().__init__(spec=SchemaReviewSpec(
        curated_schema=curated_schema, inferred_schema=inferred_schema,
        review=types.Channel(type=SchemaProposals)))

