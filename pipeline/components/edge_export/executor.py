"""The EdgeExport executor: TFX glue around the plain functions of this folder."""
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline.components.edge_export import tflite as edge_export
from pipeline.components.serving_check import check as serving_check

PUSHED_MODEL_KEY = 'pushed_model'


EXAMPLES_KEY = 'examples'


EDGE_MODEL_KEY = 'edge_model'


EDGE_BASE_KEY = 'edge_base'


NUM_EXAMPLES_KEY = 'num_examples'


EVAL_SPLIT = 'eval'


REASON_PROPERTY = 'edge_export'


def edge_dir(edge_base: str, version: str) -> str:
  return os.path.join(edge_base, version)


class EdgeExportExecutor(base_executor.BaseExecutor):
  """TFX glue around `pipeline.edge_export`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    edge = artifact_utils.get_single_instance(output_dict[EDGE_MODEL_KEY])
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    edge.set_int_custom_property('exported', 0)
    if not pushed.get_int_custom_property('pushed'):
      edge.set_string_custom_property(REASON_PROPERTY, 'not exported: nothing was pushed')
      return
    version = pushed.get_string_custom_property('pushed_version')
    model_dir = pushed.get_string_custom_property('pushed_destination')
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    rows = serving_check.read_examples(artifact_utils.get_split_uri([examples], EVAL_SPLIT),
                                       int(exec_properties[NUM_EXAMPLES_KEY]))
    try:
      # Written into the artifact first, then published as a whole (never half a file).
      result = edge_export.export(model_dir, edge.uri, rows)
    except edge_export.EdgeExportError as error:
      logging.error('edge export of version %s failed: %s', version, error)
      edge.set_string_custom_property(REASON_PROPERTY, f'failed: {error}')
      return
    published = edge_dir(exec_properties[EDGE_BASE_KEY], version)
    tf.io.gfile.makedirs(published)
    # signature.json last: its presence marks a complete version for whoever syncs devices.
    for name in (edge_export.TFLITE_FILE, edge_export.SIGNATURE_FILE):
      tf.io.gfile.copy(os.path.join(edge.uri, name), os.path.join(published, name),
                       overwrite=True)
    parity = result.parity
    edge.set_int_custom_property('exported', 1)
    edge.set_string_custom_property('version', version)
    edge.set_string_custom_property('published', published)
    edge.set_int_custom_property('size_bytes', result.size_bytes)
    # As text: MLMD's SQLite store rounds doubles to 6 decimals (1.2e-07 would read 0.0).
    edge.set_string_custom_property('max_abs_diff', f'{parity.max_abs_diff:.3e}')
    edge.set_int_custom_property('parity_examples', parity.examples)
    edge.set_string_custom_property(
        REASON_PROPERTY,
        f'version {version} as TFLite ({result.size_bytes / 1024:.0f} KiB): max |Δ| score '
        f'{parity.max_abs_diff:.1e} vs the SavedModel on {parity.examples} evaluation '
        f'examples (tolerance {parity.tolerance:g})')

