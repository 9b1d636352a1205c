"""CsvExampleGen's executor, ingesting in this process when Beam runs locally.

Reading records (quoted newlines kept), `tfx_bsl`'s CSV parsing and its column type
rule, and the hash partition into splits are TFX's own functions, called directly
instead of through Beam's local runner. Each row is written as the deterministic
serialization of the tf.Example TFX's handlers would make (`serialized_examples`), the
bytes TFX's partition hashes, so every split holds exactly the examples TFX's executor
puts there (tests/in_process/test_csv_ingest.py compares them). Rows are written in a seeded random
order, as Beam's shuffle writes them in some random order. It saves Beam's local
runner's fixed cost per span, and its per-row Python.

The functions are TFX 1.16's, some of them private (the version is pinned); the tests
run both executors side by side, so an upgrade that changes them fails there first.

Beam stays for what this path does not cover: a runner that is not local (Dataflow),
splits taken from the input, a partition feature, another payload or file format, and
CSV too large to hold one span's parsed rows in memory.
"""
import logging
import os
import random
from typing import Any, Dict, Iterable, Iterator, List, Optional

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import io_utils, proto_utils
from tfx_bsl.coders import csv_decoder

from pipeline import beam_modes

# One span's CSV above this size goes through Beam, which streams it. The parsed rows
# are held in memory here, about 20 times the CSV's size, so this bound keeps a span
# under ~3 GiB.
IN_PROCESS_MAX_BYTES = 128 << 20
# Seed of the written order: the same CSV gives byte-identical files.
SHUFFLE_SEED = 0
# Beam's file name for a single shard.
SHARD_NAME = write_split.DEFAULT_FILE_NAME + '-00000-of-00001.gz'


def _configs(exec_properties: Dict[str, Any]):
  input_config = example_gen_pb2.Input()
  proto_utils.json_to_proto(exec_properties[keys.INPUT_CONFIG_KEY], input_config)
  output_config = example_gen_pb2.Output()
  proto_utils.json_to_proto(exec_properties[keys.OUTPUT_CONFIG_KEY], output_config)
  return input_config, output_config


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
  """A length-delimited protobuf field (wire type 2) with a one-byte tag."""
  return bytes([tag]) + _varint(len(payload)) + payload


def _feature(column_type, cell: bytes) -> bytes:
  """A serialized tf.train.Feature, as TFX's CSV handlers fill it for `cell`.

  Missing cells give an empty list of the column's kind; a column without any value
  (type unknown) gives an empty Feature.
  """
  if column_type == csv_decoder.ColumnType.INT:
    if not cell:
      return _field(0x1A, b'')
    value = int(cell)  # TFX's handler
    if not -2**63 <= value < 2**63:
      raise ValueError(f'Value out of range for int64: {cell!r}')
    return _field(0x1A, _field(0x0A, _varint(value & 0xFFFFFFFFFFFFFFFF)))  # packed int64
  if column_type == csv_decoder.ColumnType.FLOAT:
    if not cell:
      return _field(0x12, b'')
    with np.errstate(over='ignore'):  # beyond float32 is inf, as protobuf stores it
      return _field(0x12, _field(0x0A, np.float32(float(cell)).tobytes()))  # packed float
  if column_type == csv_decoder.ColumnType.STRING:
    return _field(0x0A, _field(0x0A, cell) if cell else b'')
  return b''


def _feature_entry(name: bytes, column_type, cell: bytes) -> bytes:
  """One `feature` map entry of tf.train.Features, wrapped as its repeated field."""
  return _field(0x0A, _field(0x0A, name) + _field(0x12, _feature(column_type, cell)))


def serialized_examples(csv_files: List[str]) -> Iterator[bytes]:
  """The rows of CSV files with one header as serialized tf.Examples: the Examples TFX's
  `_CsvToExample` makes, in their deterministic serialization (map keys sorted).

  Reading, parsing and type inference are TFX's and tfx_bsl's own functions. The type
  of a column is the highest type of its values (tfx_bsl's `ColumnTypeInferrer` rule),
  inferred once per distinct value; each distinct cell of a column is encoded once, and
  a row is the concatenation of its cells' encodings in key order. TFX hashes this same
  deterministic serialization to choose a row's split. tests/in_process/test_csv_ingest.py checks
  the bytes against the protobuf library's.

  The parsed cells are held (types are inferred from every row first); the records are
  made as they are asked for.
  """
  column_names = io_utils.load_csv_column_names(csv_files[0])
  for path in csv_files[1:]:
    if io_utils.load_csv_column_names(path) != column_names:
      raise RuntimeError(f'Files in same split {csv_files} have different header.')
  reader = tfx_csv._ReadCsvRecordsFromTextFile()  # pylint: disable=protected-access
  parser = csv_decoder.ParseCSVLine(delimiter=',')
  parser.setup()  # a Beam DoFn: its reader is made in setup
  rows = [cells for path in csv_files for record in reader.process(path)
          for cells, _ in parser.process(record) if cells]  # blank lines are skipped
  for cells in rows:
    if len(cells) != len(column_names):  # tfx_bsl's type inference says so first
      raise ValueError(f'Columns do not match specified csv headers: {column_names} -> {cells}')
  if not rows:
    return
  distinct = [set(column) for column in zip(*rows)]
  # A repeated column name keeps its last cell, as TFX's dict of features does.
  last = {name.encode(): i for i, name in enumerate(column_names)}
  order = [last[name] for name in sorted(last)]
  encodings = []
  for i in order:
    column_type = max(map(csv_decoder._InferValueType, distinct[i]))  # pylint: disable=protected-access
    name = column_names[i].encode()
    encodings.append({cell: _feature_entry(name, column_type, cell) for cell in distinct[i]})
  del distinct
  for cells in rows:
    payload = b''.join([encoding[cells[i]] for i, encoding in zip(order, encodings)])
    yield b'\x0a' + _varint(len(payload)) + payload


def partition(records: Iterable[bytes], split_config: example_gen_pb2.SplitConfig
              ) -> List[List[bytes]]:
  """Serialized examples per output split, by TFX's hash partition."""
  buckets = []
  for split in split_config.splits:
    buckets.append((buckets[-1] if buckets else 0) + split.hash_buckets)
  parts: List[List[bytes]] = [[] for _ in buckets]
  for record in records:
    index = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
        record, len(buckets), buckets, split_config)
    parts[index].append(record)
  return parts


class InProcessCsvExecutor(tfx_csv.Executor):
  """TFX's CsvExampleGen executor, without Beam when Beam would run on this machine."""

  def _why_beam(self, exec_properties: Dict[str, Any], csv_files: List[str]) -> Optional[str]:
    if not beam_modes.runs_locally(self._beam_pipeline_args):
      return 'a remote runner'
    input_config, output_config = _configs(exec_properties)
    if len(input_config.splits) != 1 or not output_config.split_config.splits:
      return 'splits from the input'
    if output_config.split_config.partition_feature_name:
      return 'partition feature'
    payload = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
    if payload not in (None, example_gen_pb2.FORMAT_TF_EXAMPLE):
      return f'payload format {payload}'
    file_format = exec_properties.get(keys.OUTPUT_FILE_FORMAT_KEY)
    if file_format not in (None, example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
                           example_gen_pb2.FORMAT_TFRECORDS_GZIP):
      return f'file format {file_format}'
    if not csv_files:
      return 'no CSV file'  # TFX's executor says so
    size = sum(fileio.stat(path).length for path in csv_files)
    if size > IN_PROCESS_MAX_BYTES:
      return f'{size >> 20} MiB of CSV'
    return None

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    input_config, output_config = _configs(exec_properties)
    pattern = os.path.join(exec_properties[keys.INPUT_BASE_KEY],
                           input_config.splits[0].pattern) if input_config.splits else ''
    csv_files = sorted(fileio.glob(pattern)) if pattern else []
    why_beam = self._why_beam(exec_properties, csv_files)
    if why_beam:
      logging.info('ingestion on Beam: %s', why_beam)
      return super().Do(input_dict, output_dict, exec_properties)
    logging.info('ingesting %s in this process', csv_files)

    self._log_startup(input_dict, output_dict, exec_properties)
    artifact = artifact_utils.get_single_instance(output_dict[keys.EXAMPLES_KEY])
    split_names = utils.generate_output_split_names(input_config, output_config)
    artifact.split_names = artifact_utils.encode_split_names(split_names)
    parts = partition(serialized_examples(csv_files), output_config.split_config)
    shuffle = random.Random(SHUFFLE_SEED)
    for name, records in zip(split_names, parts):
      shuffle.shuffle(records)
      split_dir = artifact_utils.get_split_uri([artifact], name)
      fileio.makedirs(split_dir)
      with tf.io.TFRecordWriter(os.path.join(split_dir, SHARD_NAME), 'GZIP') as writer:
        for record in records:
          writer.write(record)
    # The artifact's formats, as TFX's executor records them.
    payload_format = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
    if payload_format:
      examples_utils.set_payload_format(artifact, payload_format)
    file_format = exec_properties.get(keys.OUTPUT_FILE_FORMAT_KEY)
    if file_format:
      examples_utils.set_file_format(artifact, write_split.to_file_format_str(file_format))
