"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `tensorflow.serving.PredictionLog` protos. TF Serving replays them
(at most 1,000) after loading a version and before it takes traffic, so the first
real request does not pay for graph initialisation; this server does the same.
"""
import os
from typing import Iterator, List, Sequence

import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, model_pb2, predict_pb2,
                                     prediction_log_pb2, regression_pb2)

WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000  # TF Serving's own limit


def warmup_path(model_dir: str) -> str:
  return os.path.join(model_dir, WARMUP_FILE)


def _add_examples(request, serialized_examples: Sequence[bytes]) -> None:
  for example in serialized_examples:
    request.input.example_list.examples.add().ParseFromString(example)


def build_requests(model_name: str, serialized_examples: Sequence[bytes],
                   raw_columns: dict, signatures: Sequence[str]) -> List[
                       prediction_log_pb2.PredictionLog]:
  """One request per signature kind from the same rows.

  `serialized_examples` feed the tf.Example signatures; `raw_columns` (feature name ->
  list of values, one per row) feed `serving_raw`.
  """
  logs = []
  spec = lambda name: model_pb2.ModelSpec(name=model_name, signature_name=name)  # noqa: E731
  for name in signatures:
    if name == 'serving_raw':
      request = predict_pb2.PredictRequest(model_spec=spec(name))
      for key, values in raw_columns.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(values))
      logs.append(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request)))
    elif name == 'classify':
      request = classification_pb2.ClassificationRequest(model_spec=spec(name))
      _add_examples(request, serialized_examples)
      logs.append(prediction_log_pb2.PredictionLog(
          classify_log=prediction_log_pb2.ClassifyLog(request=request)))
    elif name == 'regress':
      request = regression_pb2.RegressionRequest(model_spec=spec(name))
      _add_examples(request, serialized_examples)
      logs.append(prediction_log_pb2.PredictionLog(
          regress_log=prediction_log_pb2.RegressLog(request=request)))
    else:
      request = predict_pb2.PredictRequest(model_spec=spec(name))
      request.inputs['examples'].CopyFrom(
          tf.make_tensor_proto(list(serialized_examples), dtype=tf.string))
      logs.append(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request)))
  return logs


def write(model_dir: str, logs: Sequence[prediction_log_pb2.PredictionLog]) -> str:
  path = warmup_path(model_dir)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs[:MAX_WARMUP_RECORDS]:
      writer.write(log.SerializeToString())
  return path


def read(model_dir: str) -> Iterator[prediction_log_pb2.PredictionLog]:
  path = warmup_path(model_dir)
  if not tf.io.gfile.exists(path):
    return
  # TF's record reader (checksums checked), one record at a time: a tf.data iterator
  # logs "Local rendezvous is aborting ... OUT_OF_RANGE" at the end of every file.
  from tensorflow.python.lib.io import tf_record  # pylint: disable=g-import-not-at-top
  reader = tf_record.tf_record_random_reader(path)
  offset = 0
  for _ in range(MAX_WARMUP_RECORDS):
    try:
      record, offset = reader.read(offset)
    except IndexError:  # past the last record
      return
    yield prediction_log_pb2.PredictionLog.FromString(record)
