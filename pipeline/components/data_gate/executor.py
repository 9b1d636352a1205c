"""The DataGate executor: TFX glue around the plain functions of this folder."""
import csv
import io
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline import spans
from pipeline.components.data_gate import anomalies as anomalies_lib
from pipeline.resolvers.span_window import span_of

EXAMPLES_KEY = 'examples'


ANOMALIES_KEY = 'anomalies'


VALIDATED_EXAMPLES_KEY = 'validated_examples'


INPUT_BASE_KEY = 'input_base'


# A header is read from the first bytes of a file; a longer one is itself a problem.
MAX_HEADER_BYTES = 1 << 20


class DataGateError(RuntimeError):
  """Raised by the gate's execution when the span has anomalies; the message lists them."""

  def __init__(self, found: List[anomalies_lib.Anomaly]):
    self.anomalies = found
    lines = '\n'.join('  - ' + a.sentence() for a in found)
    super().__init__(f'data gate: {len(found)} anomal{"y" if len(found) == 1 else "ies"} '
                     f'found, run stopped before Transform:\n{lines}')


def link_or_copy(source: str, target: str) -> None:
  """A hard link (no bytes copied) where the file system allows, else a copy."""
  try:
    os.link(source, target)
  except OSError:
    tf.io.gfile.copy(source, target, overwrite=True)


def link_tree(src: str, dst: str) -> int:
  """Mirrors the files under `src` into `dst`: hard links where possible, else copies.

  Returns the number of files. Works for local paths and any tf.io.gfile file system.
  """
  count = 0
  for dirpath, _, filenames in tf.io.gfile.walk(src):
    rel = os.path.relpath(dirpath, src)
    target_dir = dst if rel == '.' else os.path.join(dst, rel)
    tf.io.gfile.makedirs(target_dir)
    for name in filenames:
      link_or_copy(os.path.join(dirpath, name), os.path.join(target_dir, name))
      count += 1
  return count


def _read_header(path: str) -> Optional[List[str]]:
  """The first CSV record of a file (any tf.io.gfile file system); None if unparseable."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    head = f.read(MAX_HEADER_BYTES)
  text = head.decode('utf-8', errors='replace')
  try:
    return next(csv.reader(io.StringIO(text, newline='')), [])
  except csv.Error:
    return None


def header_anomalies(input_base: str, span: int) -> List[anomalies_lib.Anomaly]:
  """Anomalies of the span's CSV headers: columns that would ingest as the wrong feature."""
  pattern = os.path.join(input_base, spans.SPAN_PATTERN.replace('{SPAN}', str(span)))
  found = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    name = os.path.basename(path)
    header = _read_header(path)
    if header is None:
      found.append(anomalies_lib.Anomaly(span, 'header', '', 'malformed header',
                                         f'{name}: the header line is not valid CSV'))
      continue
    for column, problem in spans.header_problems(header):
      found.append(anomalies_lib.Anomaly(span, 'header', column, 'malformed header',
                                         f'{name}: {problem}'))
  return found


def pass_gate(examples: types.Artifact, anomalies_artifact: types.Artifact,
              validated: types.Artifact, input_base: str = '') -> None:
  """Raises DataGateError if the span has anomalies (ExampleValidator's, and its CSV
  headers' under `input_base` when given); else publishes it as validated."""
  splits = artifact_utils.decode_split_names(anomalies_artifact.split_names)
  span = span_of(examples)  # ExampleGen keeps it as a custom property; `.span` reads 0
  found = anomalies_lib.read_anomalies(anomalies_artifact.uri, splits, span)
  if input_base:
    found = header_anomalies(input_base, span) + found
  if found:
    raise DataGateError(found)
  link_tree(examples.uri, validated.uri)
  validated.span = span
  validated.version = examples.version
  validated.split_names = examples.split_names
  # payload_format, file_format, input_fingerprint...: readers of the examples need them.
  for key, value in examples.mlmd_artifact.custom_properties.items():
    validated.mlmd_artifact.custom_properties[key].CopyFrom(value)


class DataGateExecutor(base_executor.BaseExecutor):
  """TFX glue around `pass_gate`."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    pass_gate(artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY]),
              artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY]),
              artifact_utils.get_single_instance(output_dict[VALIDATED_EXAMPLES_KEY]),
              exec_properties.get(INPUT_BASE_KEY) or '')

