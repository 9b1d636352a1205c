"""TF Serving's request and response protos, answered by a `ServedModel`.

Shared by the gRPC service and by warmup replay, so warmup exercises exactly the
code path real requests take.
"""
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, input_pb2, predict_pb2,
                                     prediction_log_pb2, regression_pb2)

from model_server.served_model import RequestError, ServedModel


def _tensor_to_array(name: str, proto) -> np.ndarray:
  try:
    return tf.make_ndarray(proto)
  except (TypeError, ValueError) as e:
    raise RequestError(f'input "{name}" is not a valid TensorProto: {e}') from e


def serialized_examples(request_input: input_pb2.Input) -> List[bytes]:
  """tf.Examples of an Input, context features merged into each example."""
  kind = request_input.WhichOneof('kind')
  if kind == 'example_list':
    return [e.SerializeToString() for e in request_input.example_list.examples]
  if kind == 'example_list_with_context':
    with_context = request_input.example_list_with_context
    merged = []
    for example in with_context.examples:
      combined = tf.train.Example()
      combined.CopyFrom(with_context.context)
      for key, feature in example.features.feature.items():
        combined.features.feature[key].CopyFrom(feature)
      merged.append(combined.SerializeToString())
    return merged
  raise RequestError('Input is empty: give example_list or example_list_with_context')


def decode_inputs(request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
  """The request's named TensorProtos as arrays; RequestError for an invalid one."""
  return {name: _tensor_to_array(name, proto) for name, proto in request.inputs.items()}


def _stamp(response, request, served: ServedModel) -> None:
  response.model_spec.name = request.model_spec.name
  response.model_spec.version.value = served.version


def predict(served: ServedModel, request: predict_pb2.PredictRequest,
            inputs: Optional[Dict[str, np.ndarray]] = None) -> predict_pb2.PredictResponse:
  """`inputs`: the request's inputs already decoded by `decode_inputs`, if the caller has them."""
  if inputs is None:
    inputs = decode_inputs(request)
  outputs = served.predict(request.model_spec.signature_name or None, inputs,
                           list(request.output_filter))
  response = predict_pb2.PredictResponse()
  _stamp(response, request, served)
  response.model_spec.signature_name = served.signature(request.model_spec.signature_name or None)
  for name, value in outputs.items():
    response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
  return response


def classify(served: ServedModel, request: classification_pb2.ClassificationRequest,
             examples: Optional[List[bytes]] = None
             ) -> classification_pb2.ClassificationResponse:
  results = served.classify(request.model_spec.signature_name or None,
                            serialized_examples(request.input) if examples is None else examples)
  response = classification_pb2.ClassificationResponse()
  _stamp(response, request, served)
  for row in results:
    classifications = response.result.classifications.add()
    for label, score in row:
      classifications.classes.add(label=label, score=score or 0.0)
  return response


def regress(served: ServedModel, request: regression_pb2.RegressionRequest,
            examples: Optional[List[bytes]] = None) -> regression_pb2.RegressionResponse:
  values = served.regress(request.model_spec.signature_name or None,
                          serialized_examples(request.input) if examples is None else examples)
  response = regression_pb2.RegressionResponse()
  _stamp(response, request, served)
  for value in values:
    response.result.regressions.add(value=value)
  return response


def replay(served: ServedModel, log: prediction_log_pb2.PredictionLog) -> None:
  """Runs one warmup record; raises what a real request would."""
  kind = log.WhichOneof('log_type')
  if kind == 'predict_log':
    predict(served, log.predict_log.request)
  elif kind == 'classify_log':
    classify(served, log.classify_log.request)
  elif kind == 'regress_log':
    regress(served, log.regress_log.request)
  else:
    raise RequestError(f'unsupported warmup record type {kind!r}')
