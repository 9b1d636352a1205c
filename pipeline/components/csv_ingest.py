"""CsvExampleGen's executor, ingesting in this process when Beam runs locally.

Each step is TFX's own function, called directly instead of through Beam's local
runner: reading records (quoted newlines kept), `tfx_bsl`'s CSV parsing and column
type inference, the conversion to tf.Example, and the hash partition into splits, so
every split holds exactly the examples TFX's executor puts there
(tests/test_csv_ingest.py compares them). Rows are written in a seeded random order,
as Beam's shuffle writes them in some random order. Measured on the embedded data,
a span took ~1 s through Beam's local runner and 0.1–0.4 s here; at 150k rows, four
spans 21.0 s and 13.0 s.

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
# are held in memory here: measured ~1 GiB for a 47 MiB span of 460k rows, ~20x the
# CSV's size, so this bound keeps a span under ~3 GiB.
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


def read_examples(csv_files: List[str]) -> Iterator[tf.train.Example]:
  """tf.Examples of CSV files with one header, as TFX's `_CsvToExample` makes them.

  The parsed cells are held (column types are inferred from every row first); each
  example is made as it is asked for (measured at 375k rows: holding all examples took
  the run's peak from 3.7 to 5.9 GiB).
  """
  column_names = io_utils.load_csv_column_names(csv_files[0])
  for path in csv_files[1:]:
    if io_utils.load_csv_column_names(path) != column_names:
      raise RuntimeError(f'Files in same split {csv_files} have different header.')
  reader = tfx_csv._ReadCsvRecordsFromTextFile()  # pylint: disable=protected-access
  parser = csv_decoder.ParseCSVLine(delimiter=',')
  parser.setup()  # a Beam DoFn: its reader is made in setup
  rows = [cells for path in csv_files for record in reader.process(path)
          for cells, _ in parser.process(record)]
  inferrer = csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True)
  accumulator = inferrer.create_accumulator()
  for cells in rows:
    accumulator = inferrer.add_input(accumulator, cells)
  column_infos = inferrer.extract_output(accumulator)
  to_example = tfx_csv._ParsedCsvToTfExample()  # pylint: disable=protected-access
  for cells in rows:
    yield from to_example.process(cells, column_infos)


def partition(examples: Iterable[tf.train.Example], split_config: example_gen_pb2.SplitConfig
              ) -> List[List[bytes]]:
  """Serialized examples per output split, by TFX's hash partition."""
  buckets = []
  for split in split_config.splits:
    buckets.append((buckets[-1] if buckets else 0) + split.hash_buckets)
  parts: List[List[bytes]] = [[] for _ in buckets]
  for example in examples:
    index = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
        example, len(buckets), buckets, split_config)
    parts[index].append(example.SerializeToString())
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
    parts = partition(read_examples(csv_files), output_config.split_config)
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
