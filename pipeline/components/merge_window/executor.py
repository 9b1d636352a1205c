"""The MergeWindow executor: TFX glue around the plain functions of this folder."""
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline.components.data_gate import link_or_copy
from pipeline.resolvers.span_window import span_of

EXAMPLES_KEY = 'examples'


MERGED_KEY = 'merged_examples'


WINDOW_SPANS_PROPERTY = 'window_spans'


def merge(window: List[types.Artifact], merged: types.Artifact) -> List[int]:
  """Links every split file of every span into `merged`; returns the spans merged."""
  if not window:
    raise ValueError('the training window is empty: no validated span to train on')
  window = sorted(window, key=span_of)
  splits = artifact_utils.decode_split_names(window[0].split_names)
  for artifact in window[1:]:
    other = artifact_utils.decode_split_names(artifact.split_names)
    if sorted(other) != sorted(splits):
      raise ValueError(f'span {span_of(artifact)} has splits {other}, span '
                       f'{span_of(window[0])} has {splits}; a window needs the same splits')
  for split in splits:
    target_dir = os.path.join(merged.uri, f'Split-{split}')
    tf.io.gfile.makedirs(target_dir)
    for artifact in window:
      source_dir = os.path.join(artifact.uri, f'Split-{split}')
      for name in tf.io.gfile.listdir(source_dir):
        link_or_copy(os.path.join(source_dir, name),
                      os.path.join(target_dir, f'span-{span_of(artifact)}-{name}'))
  newest = window[-1]
  for key, value in newest.mlmd_artifact.custom_properties.items():
    merged.mlmd_artifact.custom_properties[key].CopyFrom(value)
  merged.split_names = artifact_utils.encode_split_names(list(splits))
  spans = [span_of(a) for a in window]
  merged.set_string_custom_property(WINDOW_SPANS_PROPERTY, ','.join(str(s) for s in spans))
  return spans


class MergeWindowExecutor(base_executor.BaseExecutor):
  """TFX glue around `merge`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    merge(input_dict[EXAMPLES_KEY], artifact_utils.get_single_instance(output_dict[MERGED_KEY]))

