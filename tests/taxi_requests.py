"""A valid raw taxi request, and the proto builders the serving tests and benchmarks mutate."""
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow_serving.apis import predict_pb2

MODEL = 'taxi'
ROW = {'fare': 12.5, 'trip_miles': 3.1, 'trip_seconds': 720, 'payment_type': 'Credit Card',
       'company': '', 'trip_start_hour': 14, 'trip_start_day': 3, 'trip_start_month': 5,
       'pickup_community_area': 8, 'dropoff_community_area': 32, 'dropoff_census_tract': -1,
       'pickup_latitude': 41.89, 'pickup_longitude': -87.63, 'dropoff_latitude': 41.88,
       'dropoff_longitude': -87.62}


def fill_example(example: tf.train.Example, row: dict = ROW) -> tf.train.Example:
  """`row` as tf.Example features of the kinds the schema types them."""
  for name, value in row.items():
    feature = example.features.feature[name]
    if isinstance(value, str):
      feature.bytes_list.value.append(value.encode())
    elif isinstance(value, float):
      feature.float_list.value.append(value)
    else:
      feature.int64_list.value.append(value)
  return example


def grpc_raw_request(rows: int = 1, **replace) -> predict_pb2.PredictRequest:
  """A `serving_raw` PredictRequest of `rows` copies of ROW; `replace` swaps inputs."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = MODEL
  request.model_spec.signature_name = 'serving_raw'
  for name, value in ROW.items():
    dtype = tf.string if isinstance(value, str) else tf.float32 if isinstance(value, float) \
        else tf.int64
    request.inputs[name].CopyFrom(tf.make_tensor_proto([value] * rows, dtype=dtype))
  for name, proto in replace.items():
    request.inputs[name].CopyFrom(proto)
  return request


def tensor(dtype, dims, **values) -> tensor_pb2.TensorProto:
  """A TensorProto declaring `dims`, holding `values` by field (float_val=[...])."""
  proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
  for field, items in values.items():
    getattr(proto, field).extend(items)
  return proto
