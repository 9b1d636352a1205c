"""The in-process StatisticsGen executor against TFX's own (Beam) executor on the same examples."""
import os

import pytest
import tensorflow_data_validation as tfdv
from tfx.components.statistics_gen import executor as tfx_statistics
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs as keys

from pipeline.in_process import statistics
from tests.conftest import write_examples

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

BEAM_IN_MEMORY = ['--direct_running_mode=in_memory', '--direct_num_workers=1']


def _run(executor_class, examples, root: str, name: str, beam_args, **exec_properties):
  output = standard_artifacts.ExampleStatistics()
  output.uri = os.path.join(root, name)
  context = executor_class.Context(beam_pipeline_args=beam_args, tmp_dir=os.path.join(root, 'tmp'))
  executor_class(context).Do({keys.EXAMPLES_KEY: [examples]}, {keys.STATISTICS_KEY: [output]},
                             exec_properties)
  return output


def _load(artifact, split: str):
  return tfdv.load_stats_binary(os.path.join(
      artifact_utils.get_split_uri([artifact], split), tfx_statistics.DEFAULT_FILE_NAME))


@pytest.fixture(scope='module')
def both(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('statistics'))
  examples = write_examples(root)
  ours = _run(statistics.InProcessStatisticsExecutor, examples, root, 'ours', BEAM_IN_MEMORY,
              **{keys.EXCLUDE_SPLITS_KEY: '[]'})
  beam = _run(tfx_statistics.Executor, examples, root, 'beam', BEAM_IN_MEMORY,
              **{keys.EXCLUDE_SPLITS_KEY: '[]'})
  return ours, beam


def _numbers(stats):
  """Every numeric statistic per feature, and every string feature's top values."""
  out = {}
  for feature in stats.datasets[0].features:
    name = feature.path.step[0]
    if feature.HasField('num_stats'):
      n = feature.num_stats
      out[name] = (n.common_stats.num_non_missing, n.common_stats.num_missing, n.num_zeros,
                   n.min, n.max, n.median, n.mean, n.std_dev,
                   [(b.low_value, b.high_value, b.sample_count)
                    for h in n.histograms for b in h.buckets])
    else:
      s = feature.string_stats
      out[name] = (s.common_stats.num_non_missing, s.common_stats.num_missing, s.unique,
                   [(v.value, v.frequency) for v in s.top_values], s.avg_length)
  return out


def _assert_equal_up_to_rounding(ours, beam, where='statistics'):
  """Equal structure and values; floats to 1e-9 relative: sums taken in another order
  differ in the last bits (a mean of ~1.4e9 timestamps once differed in its 16th digit)."""
  if isinstance(ours, float) or isinstance(beam, float):
    assert ours == pytest.approx(beam, rel=1e-9, abs=1e-12), where
  elif isinstance(ours, (list, tuple)):
    assert len(ours) == len(beam), where
    for i, (a, b) in enumerate(zip(ours, beam)):
      _assert_equal_up_to_rounding(a, b, f'{where}[{i}]')
  elif isinstance(ours, dict):
    assert sorted(ours) == sorted(beam), where
    for key in ours:
      _assert_equal_up_to_rounding(ours[key], beam[key], f'{where}.{key}')
  else:
    assert ours == beam, where


@pytest.mark.parametrize('split, rows', [('train', 1500), ('eval', 600)])
def test_in_process_statistics_equal_beams(both, split, rows):
  ours, beam = both
  ours_stats, beam_stats = _load(ours, split), _load(beam, split)
  assert ours_stats.datasets[0].num_examples == beam_stats.datasets[0].num_examples == rows
  _assert_equal_up_to_rounding(_numbers(ours_stats), _numbers(beam_stats))


def test_in_process_statistics_artifact_properties_match_tfxs(both):
  ours, beam = both
  assert ours.split_names == beam.split_names
  assert ours.span == beam.span == 2
  key = tfx_statistics.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME
  assert (ours.get_json_value_custom_property(key) ==
          beam.get_json_value_custom_property(key))


def test_excluded_splits_are_not_computed(tmp_path):
  examples = write_examples(str(tmp_path))
  ours = _run(statistics.InProcessStatisticsExecutor, examples, str(tmp_path), 'ours',
              BEAM_IN_MEMORY, **{keys.EXCLUDE_SPLITS_KEY: '["eval"]'})
  assert artifact_utils.decode_split_names(ours.split_names) == ['train']
  assert not os.path.exists(os.path.join(ours.uri, 'Split-eval'))


def test_remote_runners_and_beam_only_options_keep_tfxs_beam_executor(tmp_path):
  examples = write_examples(str(tmp_path))
  context = statistics.InProcessStatisticsExecutor.Context
  remote = statistics.InProcessStatisticsExecutor(
      context(beam_pipeline_args=['--runner=DataflowRunner']))
  local = statistics.InProcessStatisticsExecutor(context(beam_pipeline_args=BEAM_IN_MEMORY))
  assert remote._why_beam(examples, ['train'], {}) == 'a remote runner'  # pylint: disable=protected-access
  assert local._why_beam(examples, ['train'], {}) is None  # pylint: disable=protected-access
  assert local._why_beam(  # pylint: disable=protected-access
      examples, ['train'], {keys.SHARDED_STATS_OUTPUT_KEY: True}) == 'sharded output'
