"""TF Serving's request and response protos, answered by a `ServedModel`.

Shared by the gRPC service and by warmup replay, so warmup exercises exactly the
code path real requests take.
"""
import base64
import math
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (classification_pb2, input_pb2, predict_pb2,
                                     prediction_log_pb2, regression_pb2)

from ctpipe.model_server.limits import Limits
from ctpipe.model_server.served_model import RequestError, ServedModel, TooLargeError


# The dtypes a request tensor may have: dtype -> (numpy dtype, the TensorProto field
# holding its values). Read directly (tf.make_ndarray: ~12 us a tensor, 16 per request).
_PLAIN_DTYPES = {
    types_pb2.DT_FLOAT: (np.float32, 'float_val'),
    types_pb2.DT_DOUBLE: (np.float64, 'double_val'),
    types_pb2.DT_INT64: (np.int64, 'int64_val'),
    types_pb2.DT_INT32: (np.int32, 'int_val'),
    types_pb2.DT_STRING: (object, 'string_val'),
    types_pb2.DT_BOOL: (np.bool_, 'bool_val'),
}


def _declared_shape(name: str, proto, limits: Limits) -> List[int]:
  """The tensor's shape, checked from its declaration alone, before any allocation."""
  if proto.dtype not in _PLAIN_DTYPES:
    kind = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() \
        else str(proto.dtype)
    supported = ', '.join(types_pb2.DataType.Name(d) for d in _PLAIN_DTYPES)
    raise RequestError(f'input "{name}": dtype {kind} is not accepted; use one of {supported}')
  if proto.tensor_shape.unknown_rank:
    raise RequestError(f'input "{name}": a request tensor needs a known shape')
  shape = [d.size for d in proto.tensor_shape.dim]
  if any(size < 0 for size in shape):
    raise RequestError(f'input "{name}": shape {shape} has a negative dimension')
  if shape and shape[0] > limits.max_instances:
    raise TooLargeError(f'input "{name}" has {shape[0]} rows; at most {limits.max_instances}')
  if math.prod(shape) > limits.max_tensor_elements:
    raise TooLargeError(f'input "{name}": shape {shape} holds {math.prod(shape)} values; '
                        f'at most {limits.max_tensor_elements}')
  return shape


def _tensor_to_array(name: str, proto, limits: Limits) -> np.ndarray:
  """A request TensorProto as an array: one value per element, exactly as declared.

  TensorFlow would fill a tensor from fewer values (repeating the last); a request
  must hold what its shape says, so a 500-byte message cannot become 200,000 rows.
  """
  shape = _declared_shape(name, proto, limits)
  count = math.prod(shape)
  dtype, field = _PLAIN_DTYPES[proto.dtype]
  if proto.tensor_content:
    if dtype is object:
      raise RequestError(f'input "{name}": DT_STRING values go in string_val, not tensor_content')
    itemsize = np.dtype(dtype).itemsize
    if len(proto.tensor_content) != count * itemsize:
      raise RequestError(f'input "{name}": shape {shape} needs {count * itemsize} bytes of '
                         f'tensor_content; it holds {len(proto.tensor_content)}')
    return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape).copy()
  values = getattr(proto, field)
  if len(values) != count:
    raise RequestError(f'input "{name}": shape {shape} holds {count} values; the tensor '
                       f'has {len(values)} in {field}')
  if dtype is object:
    return np.array(list(values) or [], dtype=object).reshape(shape)
  return np.array(values, dtype=dtype).reshape(shape)


def serialized_examples(request_input: input_pb2.Input, limits: Limits = Limits()
                        ) -> List[bytes]:
  """tf.Examples of an Input, context features merged into each example."""
  kind = request_input.WhichOneof('kind')
  examples = (request_input.example_list.examples if kind == 'example_list' else
              request_input.example_list_with_context.examples
              if kind == 'example_list_with_context' else ())
  if len(examples) > limits.max_instances:
    raise TooLargeError(f'{len(examples)} examples; at most {limits.max_instances} per request')
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


def decode_inputs(request: predict_pb2.PredictRequest, limits: Limits = Limits()
                  ) -> Dict[str, np.ndarray]:
  """The request's named TensorProtos as arrays; RequestError for an invalid one."""
  return {name: _tensor_to_array(name, proto, limits) for name, proto in request.inputs.items()}


# Inputs holding serialized tf.Examples: logged as base64, as a REST client sends them.
_SERIALIZED_INPUTS = ('examples', 'inputs')


def _loggable_value(value, binary: bool):
  if isinstance(value, bytes):
    if not binary:
      try:
        return value.decode('utf-8')
      except UnicodeDecodeError:
        pass
    return {'b64': base64.b64encode(value).decode('ascii')}
  return value


def loggable_request(signature: str, inputs: Dict[str, np.ndarray]) -> Dict[str, object]:
  """A Predict request as the REST API's columnar body (what the request log holds)."""
  columns = {}
  for name, array in inputs.items():
    array = np.asarray(array)
    if array.dtype == object:
      binary = name in _SERIALIZED_INPUTS
      columns[name] = [_loggable_value(v, binary) for v in array.reshape(-1)]
    else:
      columns[name] = array.tolist()
  return {'signature_name': signature, 'inputs': columns}


def loggable_response(outputs: Dict[str, np.ndarray]) -> Dict[str, object]:
  """A Predict answer's arrays as the REST API's columnar answer."""
  return {'outputs': {name: np.asarray(array).tolist() for name, array in outputs.items()}}


def loggable_examples(examples: List[bytes]) -> Dict[str, object]:
  return {'examples': [{'b64': base64.b64encode(e).decode('ascii')} for e in examples]}


def _stamp(response, request, served: ServedModel) -> None:
  response.model_spec.name = request.model_spec.name
  response.model_spec.version.value = served.version


# numpy dtype -> TensorProto dtype, for outputs written as raw bytes (as tf.make_tensor_proto
# writes them, ~25 us a tensor; this ~3 us).
_CONTENT_DTYPES = {np.dtype(numpy_type): dtype for dtype, (numpy_type, _) in _PLAIN_DTYPES.items()
                   if numpy_type is not object}


def _write_tensor(proto, value: np.ndarray) -> None:
  dtype = _CONTENT_DTYPES.get(value.dtype)
  if dtype is None:
    proto.CopyFrom(tf.make_tensor_proto(value))
    return
  proto.dtype = dtype
  for size in value.shape:
    proto.tensor_shape.dim.add(size=size)
  proto.tensor_content = np.ascontiguousarray(value).tobytes()


def predict(served: ServedModel, request: predict_pb2.PredictRequest,
            inputs: Optional[Dict[str, np.ndarray]] = None
            ) -> Tuple[predict_pb2.PredictResponse, Dict[str, np.ndarray]]:
  """The response, and the output arrays it holds. `inputs`: the request's inputs already
  decoded by `decode_inputs`, if the caller has them."""
  if inputs is None:
    inputs = decode_inputs(request)
  outputs = served.predict(request.model_spec.signature_name or None, inputs,
                           list(request.output_filter))
  response = predict_pb2.PredictResponse()
  _stamp(response, request, served)
  response.model_spec.signature_name = served.signature(request.model_spec.signature_name or None)
  for name, value in outputs.items():
    _write_tensor(response.outputs[name], np.asarray(value))
  return response, outputs


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
