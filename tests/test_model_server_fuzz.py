"""Malformed and hostile requests (property-based) against REST and gRPC.

Each one must get an answer (a 4xx with an error, or a result) and the server must
keep serving good requests afterwards.
"""
import base64
import json
import os
import shutil

import grpc
import pytest
import requests
import tensorflow as tf
from hypothesis import HealthCheck, given, settings, strategies as st
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from model_server import versions
from model_server.local import LocalServer
from model_server.rest import Limits

MODEL = 'taxi'
FEATURES = ['fare', 'payment_type', 'trip_start_hour', 'company', 'examples', 'inputs', 'x']

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.just({'b64': 'not base64!'}) | st.just({'b64': base64.b64encode(b'\x00\xff').decode()}),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(FEATURES) | st.text(max_size=8), children, max_size=5),
    max_leaves=30)

bodies = st.one_of(
    st.builds(lambda v: {'instances': v}, json_values),
    st.builds(lambda v: {'inputs': v}, json_values),
    st.builds(lambda s, v: {'signature_name': s, 'instances': v},
              st.sampled_from(['serving_default', 'serving_raw', 'classify', 'regress', 'x', '']),
              json_values),
    st.builds(lambda s, v: {'signature_name': s, 'inputs': v},
              st.sampled_from(['serving_raw', 'serving_default', 'transform_labels']),
              st.dictionaries(st.sampled_from(FEATURES), json_values, max_size=6)),
    st.builds(lambda v, c: {'examples': v, 'context': c}, json_values, json_values),
    json_values)

paths = st.sampled_from([f'{MODEL}:predict', f'{MODEL}:classify', f'{MODEL}:regress',
                         f'{MODEL}/versions/1:predict', f'{MODEL}/labels/stable:regress',
                         f'{MODEL}/versions/99999999999999999999:predict', 'x:predict',
                         f'{MODEL}:explode', f'{MODEL}/metadata'])


@pytest.fixture(scope='module')
def server(pushed_home, tmp_path_factory):
  _, pushed_base, _, _ = pushed_home
  base = str(tmp_path_factory.mktemp('fuzz') / MODEL)
  shutil.copytree(pushed_base, base)
  with LocalServer(MODEL, base, limits=Limits(max_body_bytes=64 * 1024, max_instances=50)) as s:
    assert s.manager.wait_for_version(1).state == versions.AVAILABLE
    yield s


def _good_request_works(server) -> None:
  example = tf.train.Example()
  example.features.feature['fare'].float_list.value.append(10.0)
  body = {'instances': [{'b64': base64.b64encode(example.SerializeToString()).decode()}]}
  # Required features are missing: a clean 400 naming them, from a healthy server.
  response = requests.post(f'{server.rest_url}/v1/models/{MODEL}:predict', json=body, timeout=30)
  assert response.status_code == 400 and 'payment_type' in response.json()['error']
  assert requests.get(f'{server.rest_url}/v1/models/{MODEL}', timeout=30).status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=paths, body=bodies, raw=st.booleans(), garbage=st.binary(max_size=200))
def test_rest_answers_every_hostile_request(server, path, body, raw, garbage):
  data = garbage if raw else json.dumps(body, allow_nan=True)
  response = requests.post(f'{server.rest_url}/v1/models/{path}', data=data, timeout=30)
  assert response.status_code in (200, 400, 404, 413), (response.status_code, response.text)
  payload = response.json()
  assert ('error' in payload) == (response.status_code != 200)


def _tensor(dtype, values, dims):
  proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
  if dtype == types_pb2.DT_STRING:
    proto.string_val.extend(values)
  elif dtype == types_pb2.DT_FLOAT:
    proto.float_val.extend(float(len(v)) for v in values)
  else:
    proto.int64_val.extend(len(v) for v in values)
  return proto


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(signature=st.sampled_from(['', 'serving_raw', 'classify', 'nope']),
       inputs=st.dictionaries(
           st.sampled_from(FEATURES),
           st.tuples(st.sampled_from([types_pb2.DT_STRING, types_pb2.DT_FLOAT,
                                      types_pb2.DT_INT64, types_pb2.DT_INT32]),
                     st.lists(st.binary(max_size=30), max_size=6),
                     st.lists(st.integers(min_value=-1, max_value=6), max_size=3)),
           max_size=4),
       garbage=st.binary(max_size=100))
def test_grpc_answers_every_hostile_request(server, signature, inputs, garbage):
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    for name, (dtype, values, dims) in inputs.items():
      request.inputs[name].CopyFrom(_tensor(dtype, values, dims))
    try:
      stub.Predict(request, timeout=30)
    except grpc.RpcError as e:
      assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), e
    raw_call = channel.unary_unary('/tensorflow.serving.PredictionService/Predict',
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
    try:
      raw_call(garbage, timeout=30)
    except grpc.RpcError as e:
      # Undecodable bytes are refused by gRPC itself before our code runs.
      assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                          grpc.StatusCode.INTERNAL), e


def test_server_still_serves_after_the_fuzzing(server):
  _good_request_works(server)
  assert os.path.isdir(server.manager.base_path)
