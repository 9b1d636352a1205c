"""The Evaluator's executor, computing TFMA's evaluation in this process when Beam runs locally.

TFX's Evaluator runs TFMA on Beam, where every example goes one at a time through
extractors, a slicer and each metric's combiner: per-example Python that dominated
the pipeline's time at 150k rows. Here the models' signatures run on
batches of serialized examples (called the way TFMA's extractors call them), TFMA's slicer
runs once per distinct combination of slicing-feature values, and `pipeline.local_metrics`
computes each slice's metrics from arrays, with TFMA's own computations, validation and
protos. The artifacts are TFX's: the same files in the evaluation folder (read back by
`tfma.load_eval_result` and `tfma.load_validation_result`) and the same blessing.

TFX's own executor, on Beam, runs instead on Dataflow, with a user module or custom
extractors, without an EvalConfig, when the metrics or model specs ask for what
`local_metrics` does not reproduce, or when a model's outputs are not one value per example.
`tests/in_process/test_evaluator.py` runs both executors on the same models and examples and compares.
"""
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.api import model_eval_lib
from tensorflow_model_analysis.evaluators import keras_util
from tensorflow_model_analysis.utils import model_util
from tensorflow_model_analysis.writers import eval_config_writer
from tfx import types
from tfx.components.evaluator import constants, executor as tfx_evaluator
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import io_utils, json_utils, path_utils, proto_utils
from tfx_bsl.coders import example_coder

from pipeline import beam_modes
from pipeline.in_process import local_metrics

# Examples per call of a model's signatures.
BATCH_ROWS = 4096
# Above this many bytes of evaluation examples, Beam's streaming is worth its overhead.
IN_PROCESS_MAX_BYTES = 1 << 30


class _NeedsBeam(Exception):
  """This evaluation is one for TFMA's Beam pipeline."""


class InProcessEvaluatorExecutor(tfx_evaluator.Executor):
  """TFX's Evaluator executor, without Beam when Beam would run on this machine."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    try:
      self._evaluate_here(input_dict, output_dict, exec_properties)
    except _NeedsBeam as reason:
      logging.info('evaluation on Beam: %s', reason)
      super().Do(input_dict, output_dict, exec_properties)

  def _why_beam(self, input_dict, exec_properties) -> Optional[str]:
    if not beam_modes.runs_locally(self._beam_pipeline_args):
      return 'a remote runner'
    if exec_properties.get(keys.MODULE_PATH_KEY) or exec_properties.get(keys.MODULE_FILE_KEY):
      return 'a user module'
    if not exec_properties.get(keys.EVAL_CONFIG_KEY):
      return 'no EvalConfig'
    if not input_dict.get(keys.MODEL_KEY):
      return 'no model'
    if len(input_dict[keys.MODEL_KEY]) > 1 or len(input_dict.get(keys.BASELINE_MODEL_KEY, [])) > 1:
      return 'more than one candidate or baseline'  # TFX's executor says which
    return None

  def _evaluate_here(self, input_dict, output_dict, exec_properties) -> None:
    why = self._why_beam(input_dict, exec_properties)
    if why:
      raise _NeedsBeam(why)
    has_baseline = bool(input_dict.get(keys.BASELINE_MODEL_KEY))
    eval_config = _eval_config(exec_properties[keys.EVAL_CONFIG_KEY], has_baseline)
    run_validation = bool(tfma.metrics.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config))
    shared_models = [_shared_model(input_dict, spec, eval_config)
                     for spec in eval_config.model_specs]
    # What TFMA's ExtractEvaluateAndWriteResults does to the config it is given.
    eval_config = model_eval_lib._update_eval_config_with_defaults(  # pylint: disable=protected-access
        eval_config, shared_models if len(shared_models) > 1 else shared_models[0])
    tfma.utils.verify_eval_config(eval_config)
    planned = local_metrics.computations(eval_config)
    why = local_metrics.unsupported_reason(eval_config, planned) or _model_reason(shared_models)
    if why:
      raise _NeedsBeam(why)

    examples = input_dict[keys.EXAMPLES_KEY]
    splits = json_utils.loads(exec_properties.get(keys.EXAMPLE_SPLITS_KEY, 'null') or 'null')
    files = _example_files(examples, splits or ['eval'])
    specs = local_metrics.slice_specs(eval_config)
    arrays, columns, num_rows = _read_and_predict(
        files, eval_config, shared_models, local_metrics.slicing_columns(specs))
    slices = local_metrics.slice_rows(columns, num_rows, specs)
    rubber_stamp = model_util.has_rubber_stamp(shared_models)
    evaluation = local_metrics.evaluate(eval_config, planned, arrays, slices, rubber_stamp)
    output_uri = artifact_utils.get_single_uri(output_dict[keys.EVALUATION_KEY])
    _write(output_uri, evaluation, shared_models, files)
    logging.info('evaluated %d examples, %d slices, in this process; results in %s',
                 num_rows, len(slices), output_uri)
    if run_validation:
      _bless(input_dict, output_dict, exec_properties, evaluation.validation.validation_ok)


def _eval_config(json_text: str, has_baseline: bool) -> tfma.EvalConfig:
  """The EvalConfig as TFX's executor prepares it (first runs are rubber-stamped)."""
  eval_config = tfma.EvalConfig()
  proto_utils.json_to_proto(json_text, eval_config)
  eval_config = tfma.utils.update_eval_config_with_defaults(
      eval_config, has_baseline=has_baseline, rubber_stamp=True)
  tfma.utils.verify_eval_config(eval_config)
  if len(eval_config.model_specs) > 2:
    raise ValueError(f'Cannot support more than two models. There are '
                     f'{len(eval_config.model_specs)} models in this eval_config.')
  return eval_config


def _shared_model(input_dict, spec, eval_config):
  key = keys.BASELINE_MODEL_KEY if spec.is_baseline else keys.MODEL_KEY
  artifact = artifact_utils.get_single_instance(input_dict[key])
  if tfma.utils.get_model_type(spec) == tfma.TFMA_EVAL:
    raise _NeedsBeam('an EvalSavedModel')
  path = path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))
  logging.info('Using %s as %s model.', path, spec.name)
  return tfma.default_eval_shared_model(
      eval_saved_model_path=path, model_name=spec.name, eval_config=eval_config)


def _model_reason(shared_models) -> Optional[str]:
  for shared in shared_models:
    if shared.model_type not in (tfma.TF_GENERIC, tfma.TF_KERAS):
      return f'model type {shared.model_type}'
    if (shared.model_type == tfma.TF_KERAS and shared.include_default_metrics
        and keras_util.metric_computations_using_keras_saved_model(
            shared.model_name, shared.model_loader, None)):
      return f'the compiled Keras metrics of model {shared.model_name or "(unnamed)"}'
  return None


def _example_files(examples: List[types.Artifact], splits: List[str]) -> List[str]:
  files = []
  for split in splits:
    for uri in artifact_utils.get_split_uris(examples, split):
      files.extend(sorted(tf.io.gfile.glob(os.path.join(uri, '*'))))
  if not files:
    raise ValueError(f'no examples in splits {splits} of {[a.uri for a in examples]}')
  if sum(tf.io.gfile.stat(path).length for path in files) > IN_PROCESS_MAX_BYTES:
    raise _NeedsBeam(f'more than {IN_PROCESS_MAX_BYTES >> 20} MiB of examples')
  return files


def _records(files: List[str]) -> Iterator[np.ndarray]:
  compression = 'GZIP' if all(path.endswith('.gz') for path in files) else ''
  if any(path.endswith('.gz') for path in files) and not compression:
    raise _NeedsBeam('a mix of compressed and uncompressed example files')
  dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(BATCH_ROWS)
  for batch in dataset.as_numpy_iterator():
    yield batch


def _signature(model, name: str):
  """A signature TFMA would call with the serialized examples alone."""
  try:
    function = model.signatures[name]
  except KeyError as e:
    raise ValueError(f'the model has no signature {name!r} '
                     f'(it has {sorted(model.signatures)})') from e
  inputs = function.structured_input_signature[1]
  if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
    raise _NeedsBeam(f'signature {name} takes more than the serialized examples')
  return function


def _one_per_row(values: np.ndarray, rows: int, what: str) -> np.ndarray:
  if values.size != rows or values.shape[0] != rows:
    raise _NeedsBeam(f'{what} has shape {values.shape} for {rows} examples')
  return values.reshape(rows)


class _ModelCalls:
  """One model's label and prediction per example, as TFMA's extractors obtain them."""

  def __init__(self, shared, spec):
    model = shared.model_loader.load()
    self.spec = spec
    self.predict = _signature(model, spec.signature_name
                              or model_util.get_default_signature_name_from_model(model))
    self.preprocess = [_signature(model, name) for name in spec.preprocessing_function_names]
    self.labels: List[np.ndarray] = []
    self.predictions: List[np.ndarray] = []

  def add(self, records: np.ndarray) -> None:
    serialized = tf.constant(records, dtype=tf.string)
    transformed = {}
    for function in self.preprocess:
      transformed.update(function(serialized))
    if self.spec.label_key not in transformed:
      raise _NeedsBeam(f'label {self.spec.label_key} is not a preprocessing output')
    outputs = self.predict(serialized)
    if len(outputs) > 1:
      if self.spec.prediction_key not in outputs:
        raise _NeedsBeam(f'prediction key {self.spec.prediction_key!r} not among '
                         f'outputs {sorted(outputs)}')
      prediction = outputs[self.spec.prediction_key]
    else:
      prediction = next(iter(outputs.values()))
    rows = len(records)
    self.labels.append(_one_per_row(np.asarray(transformed[self.spec.label_key]), rows, 'label'))
    self.predictions.append(_one_per_row(np.asarray(prediction), rows, 'prediction'))

  def arrays(self) -> Tuple[np.ndarray, np.ndarray]:
    return np.concatenate(self.labels), np.concatenate(self.predictions)


def _add_column_values(column: Tuple[Any, list], batch, name: str, rows: int
                       ) -> Tuple[Any, list]:
  """`column` (dtype, values per row) with a batch's rows added (None: row lacks it)."""
  dtype, values = column
  index = batch.schema.get_field_index(name)
  if index < 0:
    values.extend([None] * rows)
    return dtype, values
  batch_dtype = _dtype(batch.column(index).type.value_type)
  if dtype is not None and batch_dtype is not dtype:
    raise _NeedsBeam(f'slicing column {name} holds values of more than one type')
  values.extend(batch.column(index).to_pylist())
  return batch_dtype, values


def _dtype(arrow_type):
  if pa.types.is_integer(arrow_type):
    return np.int64
  if pa.types.is_floating(arrow_type):
    return np.float32
  return object


def _read_and_predict(files, eval_config, shared_models, slicing_columns):
  calls = {name: _ModelCalls(shared, spec) for (name, spec), shared
           in zip(local_metrics.model_names(eval_config), shared_models)}
  decoder = example_coder.ExamplesToRecordBatchDecoder()
  columns: Dict[str, local_metrics.Column] = {name: (None, []) for name in slicing_columns}
  num_rows = 0
  for records in _records(files):
    for model in calls.values():
      model.add(records)
    if slicing_columns:
      batch = decoder.DecodeBatch(list(records))
      for name in slicing_columns:
        columns[name] = _add_column_values(columns[name], batch, name, len(records))
    num_rows += len(records)
  if not num_rows:  # TFMA then finds no slice at all and fails validation; its path says so
    raise _NeedsBeam('no evaluation examples')
  return {name: model.arrays() for name, model in calls.items()}, columns, num_rows


def _write(output_uri: str, evaluation: local_metrics.Evaluation, shared_models,
           files: List[str]) -> None:
  """The files TFMA's default writers write, in the same formats."""
  locations = {shared.model_name: shared.model_path for shared in shared_models}
  data_location = ','.join(sorted({os.path.dirname(path) for path in files}))
  io_utils.write_string_file(
      os.path.join(output_uri, f'{eval_config_writer.EVAL_CONFIG_FILE}.'
                               f'{eval_config_writer.EVAL_CONFIG_FILE_FORMAT}'),
      eval_config_writer._serialize_eval_run(  # pylint: disable=protected-access
          evaluation.eval_config, data_location, 'tfrecords', locations) + '\n')
  for name, protos in ((tfma_constants.METRICS_KEY, evaluation.metrics),
                       (tfma_constants.PLOTS_KEY, evaluation.plots),
                       (tfma_constants.ATTRIBUTIONS_KEY, [])):
    with tf.io.TFRecordWriter(os.path.join(output_uri, f'{name}-00000-of-00001.tfrecord')) as out:
      for proto in protos:
        out.write(proto.SerializeToString())
  with tf.io.TFRecordWriter(
      os.path.join(output_uri, f'{tfma_constants.VALIDATIONS_KEY}.tfrecord')) as out:
    out.write(evaluation.validation.SerializeToString())


def _bless(input_dict, output_dict, exec_properties, validation_ok: bool) -> None:
  """The blessing TFX's Evaluator writes: its file, and the same custom properties."""
  blessing = artifact_utils.get_single_instance(output_dict[keys.BLESSING_KEY])
  model = input_dict[keys.MODEL_KEY][0]
  blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                      model.uri)
  blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
  if input_dict.get(keys.BASELINE_MODEL_KEY):
    baseline = input_dict[keys.BASELINE_MODEL_KEY][0]
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                        baseline.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
                                     baseline.id)
  if 'current_component_id' in exec_properties:
    blessing.set_string_custom_property('component_id', exec_properties['current_component_id'])
  name, value = ((constants.BLESSED_FILE_NAME, constants.BLESSED_VALUE) if validation_ok
                 else (constants.NOT_BLESSED_FILE_NAME, constants.NOT_BLESSED_VALUE))
  io_utils.write_string_file(os.path.join(blessing.uri, name), '')
  blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, value)
  logging.info('Blessing result %s written to %s.', validation_ok, blessing.uri)
