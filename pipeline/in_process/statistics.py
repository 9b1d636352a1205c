"""StatisticsGen's executor, computing the statistics in this process when Beam runs locally.

TFDV's statistics are combiners: the same generators Beam runs can take Arrow record
batches one at a time in this process (`tfdv`'s in-memory path), without building
and running a Beam pipeline of ~100 stages per span. The results equal Beam's up to rounding in
the last floating-point digits (tests/in_process/test_statistics.py compares them). On Dataflow, or for
an option the in-process path does not cover, the executor is TFX's own, on Beam.

Output layout and artifact properties are TFX's: `Split-<name>/FeatureStats.pb`, the
split names, the span, and the sample rate per split.
"""
import logging
import os
from typing import Any, Dict, Iterable, List, Optional

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import types
from tfx.components.statistics_gen import executor as tfx_statistics
from tfx.components.util import tfxio_utils
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import io_utils, json_utils
from tfx_bsl.tfxio import dataset_options

from pipeline import beam_modes

# Rows per Arrow batch fed to the combiners (1,000 is faster than 8,192 here).
BATCH_ROWS = 1000
# Above this many compressed bytes in one split, Beam's parallelism is worth its start-up.
IN_PROCESS_MAX_BYTES = 1 << 30


def compute_statistics(record_batches: Iterable, options: tfdv.StatsOptions
                       ) -> statistics_pb2.DatasetFeatureStatisticsList:
  """TFDV's statistics of a stream of Arrow record batches, with the generators Beam uses.

  Raises TypeError when `options` asks for a generator that only runs on Beam.
  """
  generators = stats_impl.get_generators(options, in_memory=True)
  accumulators = [generator.create_accumulator() for generator in generators]
  for batch in record_batches:
    accumulators = [generator.add_input(accumulator, batch)
                    for generator, accumulator in zip(generators, accumulators)]
  return stats_impl.extract_statistics_output(accumulators, generators)


def _split_bytes(examples: types.Artifact, split: str) -> int:
  pattern = os.path.join(artifact_utils.get_split_uri([examples], split), '*')
  return sum(tf.io.gfile.stat(path).length for path in tf.io.gfile.glob(pattern))


class InProcessStatisticsExecutor(tfx_statistics.Executor):
  """TFX's StatisticsGen executor, without Beam when Beam would run on this machine."""

  def _why_beam(self, examples: types.Artifact, splits: List[str],
                exec_properties: Dict[str, Any]) -> Optional[str]:
    """Why these statistics need Beam, or None when this process computes them."""
    if not beam_modes.runs_locally(self._beam_pipeline_args):
      return 'a remote runner'
    if exec_properties.get(keys.SHARDED_STATS_OUTPUT_KEY):
      return 'sharded output'
    if json_utils.loads(exec_properties.get(keys.SAMPLE_RATE_BY_SPLIT_KEY, 'null') or 'null'):
      return 'sample rate by split'
    if exec_properties.get(keys.STATS_OPTIONS_JSON_KEY):
      return 'custom stats options'
    for split in splits:
      if _split_bytes(examples, split) > IN_PROCESS_MAX_BYTES:
        return f'split {split} above {IN_PROCESS_MAX_BYTES >> 20} MiB'
    return None

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
    exclude = json_utils.loads(exec_properties.get(keys.EXCLUDE_SPLITS_KEY, 'null') or 'null') or []
    splits = [split for split in artifact_utils.decode_split_names(examples.split_names)
              if split not in exclude]
    why_beam = ('schema input' if input_dict.get(keys.SCHEMA_KEY)
                else self._why_beam(examples, splits, exec_properties))
    if why_beam or not splits:
      logging.info('statistics on Beam: %s', why_beam or 'no split')
      return super().Do(input_dict, output_dict, exec_properties)
    logging.info('statistics of splits %s computed in this process', splits)

    statistics = artifact_utils.get_single_instance(output_dict[keys.STATISTICS_KEY])
    statistics.split_names = artifact_utils.encode_split_names(splits)
    statistics.span = examples.span
    statistics.set_string_custom_property(tfx_statistics.STATS_DASHBOARD_LINK, '')
    statistics.set_json_value_custom_property(
        tfx_statistics.SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME,
        json_utils.dumps({split: 1.0 for split in splits}))
    options = dataset_options.RecordBatchesOptions(
        batch_size=BATCH_ROWS, num_epochs=1, shuffle=False)
    for split in splits:
      tfxio = tfxio_utils.get_split_tfxio(
          examples=[examples], split=split, telemetry_descriptors=['StatisticsGen'])
      result = compute_statistics(tfxio.RecordBatches(options), tfdv.StatsOptions())
      output_dir = artifact_utils.get_split_uri([statistics], split)
      io_utils.write_bytes_file(
          os.path.join(output_dir, tfx_statistics.DEFAULT_FILE_NAME), result.SerializeToString())
