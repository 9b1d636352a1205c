"""The in-process CsvExampleGen executor against TFX's own (Beam) executor on the same CSV."""
import collections
import os

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs as keys
from tfx.utils import proto_utils

from pipeline.in_process import csv_ingest
from tests.conftest import sample_spans

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

BEAM_IN_MEMORY = ['--direct_running_mode=in_memory', '--direct_num_workers=1']
# Quoted commas and newlines, empty cells, a column of ints with one float, one of text.
AWKWARD_CSV = ('id,amount,note,code\n'
               '1,2,"a, b",7\n'
               '2,,"two\nlines",\n'
               '3,2.5,,9\n'
               '\n'
               '4,3,plain,10\n')


def _exec_properties(input_base: str, pattern: str):
  return {
      keys.INPUT_BASE_KEY: input_base,
      keys.INPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='span', pattern=pattern)])),
      keys.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=2),
              example_gen_pb2.SplitConfig.Split(name='eval', hash_buckets=1)]))),
      keys.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
      keys.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
  }


def _run(executor_class, root: str, name: str, exec_properties, beam_args=BEAM_IN_MEMORY):
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(root, name)
  context = executor_class.Context(beam_pipeline_args=beam_args, tmp_dir=os.path.join(root, 'tmp'))
  executor_class(context).Do({}, {keys.EXAMPLES_KEY: [examples]}, dict(exec_properties))
  return examples


def _records(examples, split: str):
  """A split's examples, each in its deterministic serialization (TFX writes another one,
  with map entries in the protobuf library's hash order)."""
  pattern = os.path.join(artifact_utils.get_split_uri([examples], split), '*')
  return collections.Counter(
      tf.train.Example.FromString(bytes(r.numpy())).SerializeToString(deterministic=True)
      for r in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), 'GZIP'))


def _compare(root: str, pattern: str):
  properties = _exec_properties(root, pattern)
  ours = _run(csv_ingest.InProcessCsvExecutor, root, 'ours', properties)
  beam = _run(tfx_csv.Executor, root, 'beam', properties)
  assert ours.split_names == beam.split_names
  for split in ('train', 'eval'):
    assert _records(ours, split) == _records(beam, split), split
  assert dict(ours.mlmd_artifact.custom_properties) == dict(beam.mlmd_artifact.custom_properties)
  return ours


def test_in_process_ingestion_writes_exactly_tfxs_examples_per_split(tmp_path):
  root = sample_spans(str(tmp_path), [(2, 1200)])
  ours = _compare(root, 'span-1/*.csv')
  rows = sum(sum(_records(ours, split).values()) for split in ('train', 'eval'))
  assert rows == 1200


def test_quoted_newlines_empty_cells_and_type_inference_match_tfx(tmp_path):
  os.makedirs(tmp_path / 'span-1')
  (tmp_path / 'span-1' / 'data.csv').write_text(AWKWARD_CSV)
  ours = _compare(str(tmp_path), 'span-1/*.csv')
  examples = [tf.train.Example.FromString(r) for split in ('train', 'eval')
              for r in _records(ours, split)]
  assert len(examples) == 4
  notes = sorted(e.features.feature['note'].bytes_list.value[0] for e in examples
                 if e.features.feature['note'].bytes_list.value)
  assert notes == [b'a, b', b'plain', b'two\nlines']
  assert all(e.features.feature['amount'].HasField('float_list') for e in examples)


def test_same_csv_gives_byte_identical_files(tmp_path):
  root = sample_spans(str(tmp_path), [(3, 300)])
  properties = _exec_properties(root, 'span-1/*.csv')
  first = _run(csv_ingest.InProcessCsvExecutor, root, 'first', properties)
  second = _run(csv_ingest.InProcessCsvExecutor, root, 'second', properties)
  for split in ('train', 'eval'):
    name = csv_ingest.SHARD_NAME
    paths = [os.path.join(artifact_utils.get_split_uri([a], split), name) for a in (first, second)]
    assert open(paths[0], 'rb').read() == open(paths[1], 'rb').read()


def test_a_row_with_too_many_cells_fails_as_in_tfx(tmp_path):
  os.makedirs(tmp_path / 'span-1')
  (tmp_path / 'span-1' / 'data.csv').write_text('a,b\n1,2\n3,4,5\n')
  with pytest.raises(ValueError, match='Columns do not match specified csv headers'):
    _run(csv_ingest.InProcessCsvExecutor, str(tmp_path), 'ours',
         _exec_properties(str(tmp_path), 'span-1/*.csv'))


def test_remote_runners_and_other_formats_keep_tfxs_beam_executor(tmp_path):
  root = sample_spans(str(tmp_path), [(2, 10)])
  properties = _exec_properties(root, 'span-1/*.csv')
  files = [os.path.join(root, 'span-1', 'data.csv')]
  context = csv_ingest.InProcessCsvExecutor.Context
  local = csv_ingest.InProcessCsvExecutor(context(beam_pipeline_args=BEAM_IN_MEMORY))
  remote = csv_ingest.InProcessCsvExecutor(context(beam_pipeline_args=['--runner=DataflowRunner']))
  assert local._why_beam(properties, files) is None  # pylint: disable=protected-access
  assert remote._why_beam(properties, files) == 'a remote runner'  # pylint: disable=protected-access
  parquet = dict(properties, **{keys.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_PARQUET})
  assert local._why_beam(parquet, files).startswith('payload format')  # pylint: disable=protected-access


def test_csv_beyond_the_memory_bound_goes_to_beam(tmp_path, monkeypatch):
  root = sample_spans(str(tmp_path), [(2, 50)])
  files = [os.path.join(root, 'span-1', 'data.csv')]
  executor = csv_ingest.InProcessCsvExecutor(
      csv_ingest.InProcessCsvExecutor.Context(beam_pipeline_args=BEAM_IN_MEMORY))
  properties = _exec_properties(root, 'span-1/*.csv')
  monkeypatch.setattr(csv_ingest, 'IN_PROCESS_MAX_BYTES', os.path.getsize(files[0]) - 1)
  assert executor._why_beam(properties, files).endswith('MiB of CSV')  # pylint: disable=protected-access
  ours = _run(csv_ingest.InProcessCsvExecutor, root, 'ours', properties)  # TFX's Beam path
  assert sum(sum(_records(ours, split).values()) for split in ('train', 'eval')) == 50


# Negative and 64-bit ints, a float beyond float32, exponents, an all-empty column, a
# repeated column name, non-ASCII text.
EDGE_CSV = ('n,x,empty,t,n\n'
            '-5,1e39,,caf\u00e9,9223372036854775807\n'
            '0,-0.0,,"",-9223372036854775808\n'
            '7,3.25e-3,,x,1\n')


@pytest.mark.parametrize('text', [AWKWARD_CSV, EDGE_CSV], ids=['awkward', 'edge'])
def test_rows_serialize_as_protobufs_deterministic_bytes_of_tfxs_examples(tmp_path, text):
  """The bytes TFX's split hash is taken over: `SerializeToString(deterministic=True)` of
  the Example TFX's own conversion makes, for every row."""
  path = tmp_path / 'data.csv'
  path.write_text(text, encoding='utf-8')
  ours = list(csv_ingest.serialized_examples([str(path)]))
  assert ours == [e.SerializeToString(deterministic=True) for e in _tfx_examples(str(path))]


def test_embedded_rows_serialize_as_protobufs_deterministic_bytes(tmp_path):
  root = sample_spans(str(tmp_path), [(3, 3000)])
  path = os.path.join(root, 'span-1', 'data.csv')
  ours = list(csv_ingest.serialized_examples([path]))
  assert len(ours) == 3000
  assert ours == [e.SerializeToString(deterministic=True) for e in _tfx_examples(path)]


def _tfx_examples(path: str):
  """TFX's own per-row conversion (the functions its Beam executor runs), row by row."""
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  from tfx_bsl.coders import csv_decoder  # pylint: disable=g-import-not-at-top
  names = io_utils.load_csv_column_names(path)
  parser = csv_decoder.ParseCSVLine(delimiter=',')
  parser.setup()
  rows = [cells for record in tfx_csv._ReadCsvRecordsFromTextFile().process(path)  # pylint: disable=protected-access
          for cells, _ in parser.process(record)]
  inferrer = csv_decoder.ColumnTypeInferrer(names, skip_blank_lines=True)
  accumulator = inferrer.create_accumulator()
  for cells in rows:
    accumulator = inferrer.add_input(accumulator, cells)
  infos = inferrer.extract_output(accumulator)
  convert = tfx_csv._ParsedCsvToTfExample()  # pylint: disable=protected-access
  return [example for cells in rows for example in convert.process(cells, infos)]
