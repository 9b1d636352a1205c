"""Serving signatures. Both run the Transform graph, so clients send raw features.

- `serving_default`: serialized `tf.Example` protos (TFMA, TF Serving's gRPC clients).
- `serving_raw`: one named tensor per raw feature, for JSON clients. A missing value
  is sent as "" for strings, NaN for floats and -1 for integer codes.
Both return the task's outputs (`models.outputs`: binary `probability` and the 0/1 class,
multiclass `probabilities` and the class's name, regression the value; the class and the
value are named after the data set's label).
- `classify` (classification) and `regress` (binary: the probability; regression: the
  value): TF Serving's Classify and Regress APIs on serialized `tf.Example`s (input
  `inputs`; outputs `classes`/`scores` and `outputs`). TF2 saves every signature as a
  predict method; `mark_example_methods` sets their method names in saved_model.pb so
  the real TF Serving accepts them too.
"""
import os
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from models import features, outputs

DEFAULT_SIGNATURE = 'serving_default'
RAW_SIGNATURE = 'serving_raw'
# Not for clients: TFMA calls it to get labels (computed by Transform) for evaluation.
# It returns the label alone: TFMA splits every output of it into per-example values,
# and all the transformed features would cost time for nothing.
LABEL_SIGNATURE = 'transform_labels'
CLASSIFY_SIGNATURE = 'classify'
REGRESS_SIGNATURE = 'regress'
EXAMPLE_METHODS = {CLASSIFY_SIGNATURE: 'tensorflow/serving/classify',
                   REGRESS_SIGNATURE: 'tensorflow/serving/regress'}
CLASS_LABELS = (b'0', b'1')  # a binary model's classes in Classify's answers
PROBABILITY_KEY = outputs.PROBABILITY_KEY


def _graph_function(**kwargs):
  """tf.function without autograph: these functions never branch on a tensor, and
  autograph would convert TFT's layer code source by source on every trace."""
  return tf.function(autograph=False, **kwargs)


def _missing_sentinel(dtype: tf.DType):
  if dtype == tf.string:
    return tf.constant('')
  if dtype.is_floating:
    return None  # NaN: compared with is_nan below
  return tf.constant(-1, dtype)


def _to_raw_feature(value: tf.Tensor, spec) -> tf.Tensor:
  """A [batch] dense client tensor to the raw feature shape TFT expects for `spec`."""
  if isinstance(spec, tf.io.FixedLenFeature):
    return tf.reshape(value, [-1, 1])
  sentinel = _missing_sentinel(value.dtype)
  present = (tf.logical_not(tf.math.is_nan(value)) if sentinel is None
             else tf.not_equal(value, sentinel))
  rows = tf.cast(tf.where(present), tf.int64)
  indices = tf.concat([rows, tf.zeros_like(rows)], axis=1)
  batch = tf.shape(value, out_type=tf.int64)[0]
  return tf.SparseTensor(indices, tf.boolean_mask(value, present), tf.stack([batch, 1]))


def _outputs(scores: tf.Tensor, contract: features.FeatureContract) -> Dict[str, tf.Tensor]:
  """The model's answer as the task's serving outputs (models.outputs)."""
  if contract.task == outputs.MULTICLASS:
    names = tf.constant([name.encode() for name in contract.classes])
    return {outputs.PROBABILITIES_KEY: scores,
            contract.label: tf.gather(names, tf.argmax(scores, axis=1))}
  if contract.task == outputs.REGRESSION:
    return {contract.label: tf.reshape(scores, [-1])}
  probability = tf.reshape(scores, [-1])
  return {PROBABILITY_KEY: probability,
          contract.label: tf.cast(probability > 0.5, tf.int64)}


def class_key(output_names) -> str:
  """The class output among a classifier's outputs (the one besides its probabilities)."""
  return outputs.class_key(list(output_names))


def make_signatures(model: keras.Model, tf_transform_output: tft.TFTransformOutput,
                    contract: features.FeatureContract,
                    transform_layer: keras.layers.Layer, parse_and_transform) -> Dict:
  """The concrete functions to save with the model, keyed by signature name.

  `transform_layer`: `tf_transform_output.transform_features_layer()`, and
  `parse_and_transform`: serialized raw tf.Examples to (transformed features, label), the
  tf.function the caller's datasets already traced (`training.parse_and_transform_fn`).
  The label signature calls it as it is: one traced Transform graph fewer to trace, to
  save and to load wherever the model is loaded.
  """
  model.tft_layer = transform_layer
  raw_spec = tf_transform_output.raw_feature_spec()
  serving_spec = {name: spec for name, spec in raw_spec.items()
                  if name in contract.model_input_features}
  missing_inputs = sorted(set(contract.model_input_features) - set(serving_spec))
  if missing_inputs:
    raise ValueError(f'schema lacks model inputs {missing_inputs}; check schema/schema.pbtxt')

  # One traced function behind every signature that parses tf.Examples (tracing the
  # Transform graph and the model is slow), and one more for raw tensors.
  @_graph_function(reduce_retracing=True)
  def predict_transformed(raw_features):
    transformed = model.tft_layer(raw_features)
    transformed.pop(contract.label, None)
    return _outputs(model(transformed), contract)

  @_graph_function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(serialized):
    return predict_transformed(tf.io.parse_example(serialized, serving_spec))

  raw_input_signature = {
      name: tf.TensorSpec([None], spec.dtype, name=name) for name, spec in serving_spec.items()}

  @_graph_function(input_signature=[raw_input_signature])
  def serve_raw(inputs):
    return predict_transformed(
        {name: _to_raw_feature(inputs[name], serving_spec[name]) for name in serving_spec})

  @_graph_function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def transform_labels(serialized):
    _, label = parse_and_transform(serialized)
    return {contract.label: label}

  functions = {
      DEFAULT_SIGNATURE: serve_examples.get_concrete_function(),
      LABEL_SIGNATURE: transform_labels.get_concrete_function(),
      RAW_SIGNATURE: serve_raw.get_concrete_function(),
  }
  inputs = [tf.TensorSpec([None], tf.string, name='inputs')]

  def answer(serialized):
    return predict_transformed(tf.io.parse_example(serialized, serving_spec))

  if contract.task != outputs.REGRESSION:
    if contract.task == outputs.MULTICLASS:
      class_names = [name.encode() for name in contract.classes]
      scores_of = lambda answered: answered[outputs.PROBABILITIES_KEY]  # noqa: E731
    else:
      class_names = list(CLASS_LABELS)
      scores_of = lambda answered: tf.stack(  # noqa: E731
          [1.0 - answered[PROBABILITY_KEY], answered[PROBABILITY_KEY]], axis=1)

    @_graph_function(input_signature=inputs)
    def classify(serialized):
      scores = scores_of(answer(serialized))
      classes = tf.tile(tf.constant([class_names]), [tf.shape(scores)[0], 1])
      return {'classes': classes, 'scores': scores}
    functions[CLASSIFY_SIGNATURE] = classify.get_concrete_function()

  if contract.task != outputs.MULTICLASS:
    value_key = PROBABILITY_KEY if contract.task == outputs.BINARY else contract.label

    @_graph_function(input_signature=inputs)
    def regress(serialized):
      return {'outputs': answer(serialized)[value_key]}
    functions[REGRESS_SIGNATURE] = regress.get_concrete_function()
  return functions


def mark_example_methods(model_dir: str) -> None:
  """Gives the classify/regress signatures TF Serving's method names, in place."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_dir, 'saved_model.pb')
  saved = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved.ParseFromString(f.read())
  for meta_graph in saved.meta_graphs:
    for name, method in EXAMPLE_METHODS.items():
      if name in meta_graph.signature_def:
        meta_graph.signature_def[name].method_name = method
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(saved.SerializeToString())
