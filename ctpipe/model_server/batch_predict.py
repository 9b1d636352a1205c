"""Batch prediction on Beam: unlabelled CSV rows scored by a pushed model version.

The rows go through the model's `serving_raw` signature (the Transform graph inside),
in batches, with the model loaded once per worker. The output is the input rows,
unchanged, with the columns the caller names appended (in that order), as CSV shards:
each column is one signature output, or one entry of an output's last axis (a class's
probability).
"""
import csv
import glob
import io
import math
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np

# (CSV column, signature output, index into the output's last axis or None)
Column = Tuple[str, str, Optional[int]]

def input_files(path: str) -> List[str]:
  if os.path.isdir(path):
    files = sorted(glob.glob(os.path.join(path, '**', '*.csv'), recursive=True))
  else:
    files = sorted(glob.glob(path))
  if not files:
    raise FileNotFoundError(f'no CSV files at {path}')
  return files


def read_header(files: Sequence[str]) -> List[str]:
  headers = set()
  for name in files:
    with open(name, newline='') as f:
      headers.add(tuple(next(csv.reader(f), [])))
  if len(headers) != 1:
    raise ValueError(f'the CSV files have different headers: {sorted(headers)}')
  header = list(headers.pop())
  if not header:
    raise ValueError(f'{files[0]} is empty')
  return header


class _Score(beam.DoFn):
  """Loads the model once per worker; scores a batch of rows through serving_raw."""

  def __init__(self, model_dir: str, header: Sequence[str], columns: Sequence[Column]):
    self._model_dir = model_dir
    self._header = list(header)
    self._columns = list(columns)
    self._fn = None
    self._specs = None

  def setup(self):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._fn = tf.saved_model.load(self._model_dir).signatures['serving_raw']
    self._specs = self._fn.structured_input_signature[1]

  def _column(self, rows: List[Dict[str, str]], name: str, dtype) -> np.ndarray:
    values = [row.get(name, '') for row in rows]
    if dtype.name == 'string':
      return np.array([v.encode() for v in values], dtype=object)
    if dtype.is_floating:
      return np.array([float(v) if v != '' else math.nan for v in values], dtype=np.float32)
    return np.array([int(float(v)) if v != '' else -1 for v in values], dtype=np.int64)

  def process(self, lines: List[str]) -> Iterable[str]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    rows = [dict(zip(self._header, next(csv.reader([line])))) for line in lines]
    inputs = {name: tf.constant(self._column(rows, name, spec.dtype), dtype=spec.dtype)
              for name, spec in self._specs.items()}
    outputs = self._fn(**inputs)
    columns = [[_cell(v) for v in np.asarray(outputs[name]).reshape(len(lines), -1)[:, index or 0]]
               for _, name, index in self._columns]
    for i, line in enumerate(lines):
      yield line + ''.join(',' + column[i] for column in columns)


def _cell(value) -> str:
  """A float with 6 decimals, an integer as itself, bytes as text."""
  if isinstance(value, (bytes, np.bytes_)):
    return value.decode()
  if np.issubdtype(type(value), np.floating):
    return f'{float(value):.6f}'
  return str(int(value))


def run(input_path: str, output_dir: str, model_dir: str, columns: Sequence[Column],
        beam_args: Sequence[str] = ('--direct_running_mode=in_memory',)) -> str:
  """Scores every row, appending `columns`; returns the output file pattern."""
  files = input_files(input_path)
  header = read_header(files)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  signature = tf.saved_model.load(model_dir).signatures['serving_raw']
  specs = signature.structured_input_signature[1]
  wanted = [name for _, name, _ in columns]
  unknown = sorted(set(wanted) - set(signature.structured_outputs))
  if unknown or not columns:
    raise ValueError(f'the model has no outputs {unknown or wanted}; it has '
                     f'{sorted(signature.structured_outputs)}: was it trained for another '
                     'task or label than the definition says?')
  clashes = sorted({name for name, _, _ in columns} & set(header))
  if clashes:
    raise ValueError(f'the CSV already has the columns {clashes} that predictions append; '
                     'rename them first')
  missing = sorted(set(specs) - set(header))
  if missing:
    raise ValueError(f'the CSV lacks model inputs {missing}; it has {header}')
  os.makedirs(output_dir, exist_ok=True)
  buffer = io.StringIO()
  csv.writer(buffer, lineterminator='').writerow(header + [name for name, _, _ in columns])
  prefix = os.path.join(output_dir, 'predictions')
  options = beam.options.pipeline_options.PipelineOptions(list(beam_args))
  with beam.Pipeline(options=options) as p:
    _ = (p
         | 'Read' >> beam.io.ReadFromText(files[0] if len(files) == 1 else
                                          os.path.commonpath(files) + '/**/*.csv',
                                          skip_header_lines=1)
         | 'Batch' >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
         | 'Score' >> beam.ParDo(_Score(model_dir, header, columns))
         | 'Write' >> beam.io.WriteToText(prefix, file_name_suffix='.csv',
                                          header=buffer.getvalue()))
  return prefix + '*.csv'


def count_rows(pattern: str) -> int:
  """Rows written to the output shards matching `pattern` (each shard has a header)."""
  total = 0
  for name in glob.glob(pattern):
    with open(name, newline='') as f:
      total += max(0, sum(1 for _ in csv.reader(f)) - 1)
  return total
