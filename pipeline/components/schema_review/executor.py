"""The SchemaReview executor: TFX glue around the plain functions of this folder."""
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from pipeline.components.schema_review import proposals as schema_review

CURATED_KEY = 'curated_schema'


INFERRED_KEY = 'inferred_schema'


REVIEW_KEY = 'review'


PROPOSALS_FILE = 'proposals.txt'


NUM_PROPOSALS_PROPERTY = 'num_proposals'


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

