"""The in-process Evaluator executor against TFX's own (TFMA on Beam) on the same models and examples.

Two small models saved as TF Serving would load them: a candidate with 0/1 int labels and a
baseline with fractional float labels (TFMA splits those into weighted tuples), both with
predictions that hit 0, 0.5 (the accuracy threshold) and 1 exactly. Slices include a feature
missing from some examples and a two-feature slice.
"""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_artifacts, standard_component_specs as keys
from tfx.utils import proto_utils
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as tfma_writer

from pipeline import evaluation
from pipeline.in_process import local_metrics
from pipeline.in_process import evaluator
from ctpipe.config import Thresholds
from tests.conftest import PROJECT, write_examples

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

DATASET = PROJECT.dataset
# These models' predictions sit at 0, 0.5 and 1: calibration is checked, never binding.
CALIBRATION_OFF = 10.0
LOOSE = Thresholds(min_auc=0.5, max_calibration_error=CALIBRATION_OFF)

BEAM_IN_MEMORY = ['--direct_running_mode=in_memory', '--direct_num_workers=1']
FEATURES = {
    'fare': tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    'tips': tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    'trip_miles': tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    'payment_type': tf.io.FixedLenFeature([], tf.string, default_value=''),
}


class _Model(tf.Module):
  """Serialized tf.Examples in, a probability out; labels from a second signature."""

  def __init__(self, slope: float, fractional_labels: bool):
    super().__init__()
    self.slope = tf.Variable(slope)
    self.fractional_labels = fractional_labels

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(self, examples):
    x = tf.io.parse_example(examples, FEATURES)
    card = tf.cast(tf.equal(x['payment_type'], 'Credit Card'), tf.float32)
    # Clipped: exact 0s and 1s; a missing fare answers exactly 0.5.
    p = tf.clip_by_value(0.2 + 0.6 * card + self.slope * (x['fare'] - 10.0), 0.0, 1.0)
    p = tf.where(tf.equal(x['fare'], 0.0), 0.5, p)
    return {'probability': tf.reshape(p, [-1, 1]), 'logit': tf.reshape(p * 3.0, [-1, 1])}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def labels(self, examples):
    x = tf.io.parse_example(examples, FEATURES)
    if self.fractional_labels:
      share = tf.math.divide_no_nan(x['tips'], x['fare'])
      return {'big_tipper': tf.reshape(tf.clip_by_value(share * 4.0, 0.0, 1.0), [-1, 1])}
    return {'big_tipper': tf.cast(x['tips'] > 0.2 * x['fare'], tf.int64)}


def _model_artifact(root: str, name: str, model: _Model, artifact_id: int):
  artifact = standard_artifacts.Model()
  artifact.uri = os.path.join(root, name)
  artifact.id = artifact_id
  tf.saved_model.save(model, os.path.join(artifact.uri, 'Format-Serving'), signatures={
      'serving_default': model.serve, 'transform_labels': model.labels})
  return artifact


def _wide_config() -> tfma.EvalConfig:
  """The pipeline's config, plus a sparse feature's slices and a two-feature slice, with a
  change threshold the candidate fails."""
  config = evaluation.eval_config(Thresholds(min_auc=0.5, min_accuracy_lift=-1.0,
                                             max_calibration_error=CALIBRATION_OFF), DATASET)
  config.slicing_specs.add(feature_keys=['company'])
  config.slicing_specs.add(feature_keys=['payment_type', 'trip_start_day'])
  config.metrics_specs[0].metrics.add(class_name='BinaryAccuracy', config=json.dumps(
      {'name': 'accuracy_at_0_3', 'threshold': 0.3})).per_slice_thresholds.add(
          slicing_specs=[tfma.SlicingSpec()],
          threshold=tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
              direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': 0.0})))
  return config


def _evaluate(executor_class, root: str, name: str, examples, config, model, baseline=None):
  evaluation_out = standard_artifacts.ModelEvaluation()
  evaluation_out.uri = os.path.join(root, name, 'evaluation')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = os.path.join(root, name, 'blessing')
  os.makedirs(evaluation_out.uri)
  os.makedirs(blessing.uri)
  inputs = {keys.EXAMPLES_KEY: [examples], keys.MODEL_KEY: [model]}
  if baseline is not None:
    inputs[keys.BASELINE_MODEL_KEY] = [baseline]
  context = executor_class.Context(beam_pipeline_args=BEAM_IN_MEMORY,
                                   tmp_dir=os.path.join(root, name, 'tmp'))
  executor_class(context).Do(
      inputs, {keys.EVALUATION_KEY: [evaluation_out], keys.BLESSING_KEY: [blessing]},
      {keys.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config),
       keys.EXAMPLE_SPLITS_KEY: json.dumps(['eval'])})
  return evaluation_out.uri, blessing


@pytest.fixture(scope='module')
def evaluator_runs(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('evaluator'))
  examples = write_examples(root, train_rows=10, eval_rows=1200)
  candidate = _model_artifact(root, 'candidate', _Model(0.02, fractional_labels=False), 11)
  baseline = _model_artifact(root, 'baseline', _Model(0.05, fractional_labels=True), 7)
  out = {}
  first_config = evaluation.eval_config(LOOSE, DATASET)
  for label, config, base in (('first', first_config, None),
                              ('against_baseline', _wide_config(), baseline)):
    for side, executor_class in (('ours', evaluator.InProcessEvaluatorExecutor),
                                 ('tfx', tfx_evaluator.Executor)):
      out[label, side] = _evaluate(executor_class, root, f'{label}-{side}', examples, config,
                                   candidate, base)
  return out


def _flat(message) -> dict:
  values = {}

  def visit(value, path):
    if isinstance(value, dict):
      for key, item in value.items():
        visit(item, f'{path}.{key}')
    elif isinstance(value, list):
      for index, item in enumerate(value):
        visit(item, f'{path}[{index}]')
    else:
      values[path] = value

  visit(json_format.MessageToDict(message), '')
  return values


def _number(value):
  if isinstance(value, bool):
    return None
  try:
    return float(value)
  except (TypeError, ValueError):
    return None


def _assert_same_numbers(ours: dict, theirs: dict, where: str) -> None:
  assert sorted(ours) == sorted(theirs), where
  for path, value in theirs.items():
    mine, expected = _number(ours[path]), _number(value)
    if mine is None or expected is None:
      assert ours[path] == value, (where, path)
    elif math.isnan(expected):
      assert math.isnan(mine), (where, path)
    else:
      assert mine == pytest.approx(expected, rel=1e-6, abs=1e-12), (where, path)


def _by_slice(protos) -> dict:
  return {proto.slice_key.SerializeToString(): proto for proto in protos}


@pytest.mark.parametrize('label', ['first', 'against_baseline'])
def test_metrics_and_plots_equal_tfmas_on_beam(evaluator_runs, label):
  ours, _ = evaluator_runs[label, 'ours']
  theirs, _ = evaluator_runs[label, 'tfx']
  for load in (tfma_writer.load_and_deserialize_metrics, tfma_writer.load_and_deserialize_plots):
    ours_slices, their_slices = _by_slice(load(ours)), _by_slice(load(theirs))
    assert set(ours_slices) == set(their_slices) and len(their_slices) > 25
    for key, proto in their_slices.items():
      _assert_same_numbers(_flat(ours_slices[key]), _flat(proto), f'{label} {proto.slice_key}')


def _validation(path: str) -> dict:
  result = tfma.load_validation_result(path)
  details = sorted(json.dumps(json_format.MessageToDict(d), sort_keys=True)
                   for d in result.validation_details.slicing_details)
  failures = sorted(json.dumps(json_format.MessageToDict(f), sort_keys=True)
                    for f in result.metric_validations_per_slice)
  return {'ok': result.validation_ok, 'details': details, 'failures': failures,
          'missing': list(result.missing_slices), 'rubber_stamp': result.rubber_stamp}


@pytest.mark.parametrize('label, blessed', [('first', True), ('against_baseline', False)])
def test_validation_and_blessing_equal_tfxs(evaluator_runs, label, blessed):
  ours, ours_blessing = evaluator_runs[label, 'ours']
  theirs, their_blessing = evaluator_runs[label, 'tfx']
  assert _validation(ours) == _validation(theirs)
  assert _validation(ours)['ok'] is blessed
  assert sorted(os.listdir(ours_blessing.uri)) == sorted(os.listdir(their_blessing.uri)) == [
      'BLESSED' if blessed else 'NOT_BLESSED']
  ours_properties = {k: str(v) for k, v in ours_blessing.mlmd_artifact.custom_properties.items()}
  their_properties = {k: str(v) for k, v in their_blessing.mlmd_artifact.custom_properties.items()}
  assert ours_properties == their_properties


def test_failing_slices_are_reported_by_the_in_process_path(evaluator_runs):
  failures = _validation(evaluator_runs['against_baseline', 'ours'][0])['failures']
  # The candidate is worse than the baseline on a guarded slice.
  assert failures and all('"isDiff": true' in f and 'candidate' in f for f in failures)


def test_results_load_with_tfmas_own_reader(evaluator_runs):
  result = tfma.load_eval_result(evaluator_runs['against_baseline', 'ours'][0])
  overall = dict(result.slicing_metrics)[()]
  assert overall['']['']['example_count']['doubleValue'] == 1200
  assert set(overall) == {''}  # one output; both models' metrics are keyed inside


def test_unsupported_configs_and_remote_runners_go_to_tfxs_executor(tmp_path):
  context = evaluator.InProcessEvaluatorExecutor.Context
  remote = evaluator.InProcessEvaluatorExecutor(context(beam_pipeline_args=[
      '--runner=DataflowRunner']))
  properties = {keys.EVAL_CONFIG_KEY: '{}'}
  assert remote._why_beam({keys.MODEL_KEY: [object()]}, properties) == 'a remote runner'  # pylint: disable=protected-access
  local = evaluator.InProcessEvaluatorExecutor(context(beam_pipeline_args=BEAM_IN_MEMORY))
  assert local._why_beam({keys.MODEL_KEY: [object()]}, properties) is None  # pylint: disable=protected-access
  assert local._why_beam({keys.MODEL_KEY: [object()]}, {}) == 'no EvalConfig'  # pylint: disable=protected-access

  config = evaluation.eval_config(Thresholds(), DATASET)
  planned = local_metrics.computations(config)
  assert local_metrics.unsupported_reason(config, planned) is None
  config.metrics_specs[0].metrics.add(class_name='MeanSquaredError')
  assert 'combiner' in local_metrics.unsupported_reason(config, local_metrics.computations(config))
  config = evaluation.eval_config(Thresholds(), DATASET)
  config.options.compute_confidence_intervals.value = True
  assert local_metrics.unsupported_reason(config, planned) == 'confidence intervals'


def test_labels_outside_zero_one_are_refused_as_tfma_does():
  with pytest.raises(ValueError, match='within'):
    local_metrics._tuples(np.array([0.0, 1.5]), np.array([0.1, 0.2]), fractional=True)  # pylint: disable=protected-access


@pytest.mark.parametrize('label', ['first', 'against_baseline'])
def test_the_comparison_ran_the_in_process_path(evaluator_runs, label):
  """TFMA's Beam writer records no data location; the in-process path records the split's."""
  ours, _ = evaluator_runs[label, 'ours']
  theirs, _ = evaluator_runs[label, 'tfx']
  with open(os.path.join(ours, 'eval_config.json')) as f:
    assert json.load(f)['dataLocation'].endswith(os.path.join('examples', 'Split-eval'))
  with open(os.path.join(theirs, 'eval_config.json')) as f:
    assert json.load(f)['dataLocation'] == '<user provided PCollection>'


def test_an_empty_evaluation_split_is_not_blessed(tmp_path):
  """No examples: TFMA's path (which the executor then takes) validates nothing and blesses
  nothing."""
  examples = write_examples(str(tmp_path), train_rows=10, eval_rows=0)
  candidate = _model_artifact(str(tmp_path), 'candidate', _Model(0.02, False), 3)
  _, blessing = _evaluate(evaluator.InProcessEvaluatorExecutor, str(tmp_path), 'empty', examples,
                          evaluation.eval_config(LOOSE, DATASET), candidate)
  assert os.listdir(blessing.uri) == ['NOT_BLESSED']
