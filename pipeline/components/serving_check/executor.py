"""The ServingCheck executor: TFX glue around the plain functions of this folder."""
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from pipeline.components.serving_check import check as serving_check

MODEL_KEY = 'model'


MODEL_BLESSING_KEY = 'model_blessing'


EXAMPLES_KEY = 'examples'


INFRA_BLESSING_KEY = 'infra_blessing'


MODEL_NAME_KEY = 'model_name'


NUM_EXAMPLES_KEY = 'num_examples'


EVAL_SPLIT = 'eval'


REASON_PROPERTY = 'serving_check'


def _mark(blessing: types.Artifact, passed: bool, reason: str) -> None:
  io_utils.write_string_file(
      os.path.join(blessing.uri, 'INFRA_BLESSED' if passed else 'INFRA_NOT_BLESSED'), '')
  blessing.set_int_custom_property('blessed', 1 if passed else 0)
  blessing.set_string_custom_property(REASON_PROPERTY, reason)


class ServingCheckExecutor(base_executor.BaseExecutor):
  """TFX glue around `pipeline.serving_check`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    blessing = artifact_utils.get_single_instance(output_dict[INFRA_BLESSING_KEY])
    if not model_utils.is_model_blessed(
        artifact_utils.get_single_instance(input_dict[MODEL_BLESSING_KEY])):
      _mark(blessing, False, 'not checked: the Evaluator did not bless the candidate')
      return
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    split_dir = artifact_utils.get_split_uri([examples], EVAL_SPLIT)
    rows = serving_check.read_examples(split_dir, int(exec_properties[NUM_EXAMPLES_KEY]))
    model_name = exec_properties[MODEL_NAME_KEY]
    candidate = path_utils.stamped_model_path(blessing.uri)
    serving_check.prepare_candidate(path_utils.serving_model_path(model.uri), candidate,
                                    model_name, rows)
    report = serving_check.check_candidate(candidate, model_name, rows)
    blessing.set_int_custom_property('requests_sent', report.requests_sent)
    if report.passed:
      blessing.set_int_custom_property('has_model', 1)
      _mark(blessing, True, f'passed: {report.requests_sent} requests over REST and gRPC, '
                            f'{len(rows)} evaluation examples, in {report.seconds:.1f} s')
    else:
      logging.error('serving check failed: %s', report.reason())
      _mark(blessing, False, f'failed: {report.reason()}')

