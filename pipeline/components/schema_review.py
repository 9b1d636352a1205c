"""SchemaReview: compares SchemaGen's inferred schema with the curated one, every run.

It never changes the curated schema: it records the proposed updates (one line each,
in `proposals.txt`, and their count as the `num_proposals` property) for a person to
review and apply with `ctpipe schema`.
"""
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec
from tfx.utils import io_utils

from pipeline import schema_review

CURATED_KEY = 'curated_schema'
INFERRED_KEY = 'inferred_schema'
REVIEW_KEY = 'review'
PROPOSALS_FILE = 'proposals.txt'
NUM_PROPOSALS_PROPERTY = 'num_proposals'


class SchemaProposals(types.Artifact):
  """Proposed updates to the curated schema (text, one per line)."""
  TYPE_NAME = 'ctpipe.SchemaProposals'


def _read_schema(artifact: types.Artifact):
  return io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(artifact.uri))


def review(curated: types.Artifact, inferred: types.Artifact, out: types.Artifact) -> List[str]:
  changes = schema_review.proposed_changes(_read_schema(curated), _read_schema(inferred))
  with tf.io.gfile.GFile(os.path.join(out.uri, PROPOSALS_FILE), 'w') as f:
    f.write(''.join(line + '\n' for line in changes))
  out.set_int_custom_property(NUM_PROPOSALS_PROPERTY, len(changes))
  return changes


class SchemaReviewExecutor(base_executor.BaseExecutor):
  """TFX glue around `review`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    review(artifact_utils.get_single_instance(input_dict[CURATED_KEY]),
           artifact_utils.get_single_instance(input_dict[INFERRED_KEY]),
           artifact_utils.get_single_instance(output_dict[REVIEW_KEY]))


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
