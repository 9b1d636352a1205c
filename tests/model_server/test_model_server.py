"""The model server against a model pushed by a real pipeline run, over real sockets.

Requests are written as they would be against the real TF Serving (paths, bodies,
official gRPC stubs), so they double as a contract test for production serving.
"""
import base64
import gzip
import json
import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from ctpipe.continuous import feedback
from ctpipe.model_server import versions, warmup
from models import raw_examples
from ctpipe.model_server.local import LocalServer
from ctpipe.model_server.rest import Limits
from ctpipe.model_server.served_model import RequestError
from ctpipe.metadata import connection as metadata
from ctpipe.metadata.reader import MetadataReader
from pipeline import rollback
from pipeline.components.serving_check import check as serving_check
from tests.conftest import read_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

MODEL = 'taxi'
LIMITS = Limits(max_body_bytes=256 * 1024, max_json_depth=16, max_instances=100)


def _publish_copy(base: str, source_version: int, version: int) -> None:
  """As the Pusher does: a hidden copy, then one rename."""
  hidden = os.path.join(base, f'.incoming-{version}')
  shutil.copytree(os.path.join(base, str(source_version)), hidden)
  os.rename(hidden, os.path.join(base, str(version)))


@pytest.fixture(scope='module')
def served(pushed_home, tmp_path_factory):
  home, pushed_base, _, _ = pushed_home
  base = str(tmp_path_factory.mktemp('serving') / MODEL)
  shutil.copytree(pushed_base, base)
  with LocalServer(MODEL, base, poll_seconds=0.2, limits=LIMITS,
                   request_log_dir=str(tmp_path_factory.mktemp('requests'))) as server:
    assert server.manager.wait_for_version(1).state == versions.AVAILABLE
    _RAW_SPECS.update({s.name: tf.TensorSpec(s.shape, s.dtype)
                       for s in server.manager.serving().input_specs('serving_raw')})
    yield {'server': server, 'base': base, 'home': home}


def _rows(n=4):
  header, rows = read_span(3)
  return [dict(zip(header, row)) for row in rows[:n]]


_RAW_SPECS = {}


def _examples(n=4):
  return [raw_examples.to_tf_example(row, _RAW_SPECS) for row in _rows(n)]


def _raw_inputs(server, n=4):
  specs = server.manager.serving().input_specs('serving_raw')
  return serving_check.raw_columns(specs, _examples(n))


def _post(server, path, body, **kwargs):
  data = body if isinstance(body, (bytes, str)) else json.dumps(body)
  return requests.post(f'{server.rest_url}/v1/models/{path}', data=data, timeout=30, **kwargs)


def test_rest_status_and_metadata(served):
  server = served['server']
  status = requests.get(f'{server.rest_url}/v1/models/{MODEL}', timeout=10).json()
  assert status['model_version_status'][0] == {
      'version': '1', 'state': 'AVAILABLE', 'status': {'error_code': 'OK', 'error_message': ''}}
  assert requests.get(f'{server.rest_url}/v1/models/{MODEL}/versions/1',
                      timeout=10).status_code == 200
  assert requests.get(f'{server.rest_url}/v1/models/{MODEL}/labels/stable',
                      timeout=10).json()['model_version_status'][0]['version'] == '1'
  meta = requests.get(f'{server.rest_url}/v1/models/{MODEL}/metadata', timeout=10).json()
  signatures = meta['metadata']['signature_def']['signature_def']
  assert {'serving_default', 'serving_raw', 'classify', 'regress'} <= set(signatures)
  assert signatures['classify']['method_name'] == 'tensorflow/serving/classify'
  assert signatures['serving_default']['inputs']['examples']['dtype'] == 'DT_STRING'


def test_rest_predict_classify_regress_agree(served):
  server = served['server']
  b64 = [{'b64': base64.b64encode(e).decode()} for e in _examples()]
  rows = _post(server, f'{MODEL}:predict', {'instances': b64})
  assert rows.status_code == 200, rows.text
  p_rows = np.array([p['probability'] for p in rows.json()['predictions']])
  columns = _post(server, f'{MODEL}/versions/1:predict',
                  {'signature_name': 'serving_raw', 'inputs': _raw_inputs(server)})
  assert columns.status_code == 200, columns.text
  p_columns = np.array(columns.json()['outputs']['probability'])
  np.testing.assert_allclose(p_rows, p_columns, atol=1e-5)
  assert all(0 <= p <= 1 for p in p_rows)
  examples = [serving_check._example_json(e) for e in _examples()]  # pylint: disable=protected-access
  classified = _post(server, f'{MODEL}:classify', {'signature_name': 'classify',
                                                   'examples': examples}).json()['results']
  np.testing.assert_allclose([dict(r)['1'] for r in classified], p_rows, atol=1e-5)
  regressed = _post(server, f'{MODEL}:regress', {'signature_name': 'regress',
                                                 'examples': examples}).json()['results']
  np.testing.assert_allclose(regressed, p_rows, atol=1e-5)


def test_served_model_answers_as_the_public_signature_call(served):
  model = served['server'].manager.serving()
  inputs = _raw_inputs(served['server'], n=16)
  ours = model.predict('serving_raw', inputs)
  dtypes = {spec.name: spec.dtype for spec in model.input_specs('serving_raw')}
  public = model._functions['serving_raw'](  # pylint: disable=protected-access
      **{name: tf.constant(value, dtype=dtypes[name]) for name, value in inputs.items()})
  assert sorted(ours) == sorted(public)
  for name, value in public.items():
    np.testing.assert_array_equal(ours[name], value.numpy())
  assert model._direct_calls  # pylint: disable=protected-access


@pytest.mark.parametrize('value', [2.0**63, -2.0**63 * (1 + 2**-52), 1e300, 2**63])
def test_integers_beyond_int64_are_refused_not_wrapped(served, value):
  # A JSON integer beyond 64 bits reaches the model as a float (orjson) or a big int.
  model = served['server'].manager.serving()
  inputs = _raw_inputs(served['server'], n=1)
  inputs['dropoff_census_tract'] = np.array([value], dtype=object if isinstance(value, int)
                                            else np.float64)
  with pytest.raises(RequestError, match='dropoff_census_tract'):
    model.predict('serving_raw', inputs)


def test_rest_errors_have_tf_serving_shapes(served):
  server = served['server']
  unknown_model = _post(server, 'nope:predict', {'instances': []})
  assert unknown_model.status_code == 404 and 'error' in unknown_model.json()
  unknown_version = _post(server, f'{MODEL}/versions/9:predict', {'instances': ['x']})
  assert unknown_version.status_code == 404
  assert _post(server, f'{MODEL}:predict', '{not json').status_code == 400
  assert _post(server, f'{MODEL}:predict', {'instances': [1], 'inputs': [1]}).status_code == 400
  bad_signature = _post(server, f'{MODEL}:predict', {'signature_name': 'nope', 'instances': ['x']})
  assert bad_signature.status_code == 400 and 'nope' in bad_signature.json()['error']
  inputs = _raw_inputs(server, 2)
  inputs['payment_type'] = ['Bitcoin', 'Cash']
  inputs['trip_start_hour'] = [30, 3]
  schema_errors = _post(server, f'{MODEL}:predict', {'signature_name': 'serving_raw',
                                                     'inputs': inputs})
  assert schema_errors.status_code == 400
  message = schema_errors.json()['error']
  assert "'payment_type'" in message and "'trip_start_hour'" in message
  wrong_type = dict(_raw_inputs(server, 2), fare=['ten', 'twenty'])
  assert _post(server, f'{MODEL}:predict', {'signature_name': 'serving_raw',
                                            'inputs': wrong_type}).status_code == 400


def test_grpc_prediction_and_model_services(served):
  server = served['server']
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs['examples'].CopyFrom(tf.make_tensor_proto(_examples(), dtype=tf.string))
    probability = tf.make_ndarray(stub.Predict(request, timeout=30).outputs['probability'])
    assert probability.shape == (4,)
    raw = predict_pb2.PredictRequest()
    raw.model_spec.name = MODEL
    raw.model_spec.signature_name = 'serving_raw'
    for name, values in _raw_inputs(server).items():
      raw.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    np.testing.assert_allclose(
        tf.make_ndarray(stub.Predict(raw, timeout=30).outputs['probability']), probability,
        atol=1e-5)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = MODEL
    classify.model_spec.signature_name = 'classify'
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = MODEL
    regress.model_spec.signature_name = 'regress'
    for e in _examples():
      classify.input.example_list.examples.add().ParseFromString(e)
      regress.input.example_list.examples.add().ParseFromString(e)
    classes = stub.Classify(classify, timeout=30).result.classifications
    np.testing.assert_allclose([c.classes[1].score for c in classes], probability, atol=1e-5)
    values = stub.Regress(regress, timeout=30).result.regressions
    np.testing.assert_allclose([r.value for r in values], probability, atol=1e-5)
    meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
    meta.model_spec.name = MODEL
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(meta, timeout=30).metadata['signature_def'].Unpack(signature_map)
    assert 'serving_raw' in signature_map.signature_def
    status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = MODEL
    states = status_stub.GetModelStatus(status_request, timeout=30).model_version_status
    assert any(s.state == versions.AVAILABLE for s in states)
    with pytest.raises(grpc.RpcError) as bad:
      stub.Predict(predict_pb2.PredictRequest(model_spec=request.model_spec), timeout=30)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request.model_spec.name = 'nope'
    with pytest.raises(grpc.RpcError) as missing:
      stub.Predict(request, timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_limits_answer_4xx_and_the_server_stays_healthy(served):
  server = served['server']
  too_big = _post(server, f'{MODEL}:predict', b'{"instances": [' + b'1,' * 200_000 + b'1]}')
  assert too_big.status_code == 413
  deep = _post(server, f'{MODEL}:predict', '{"instances": ' + '[' * 5000 + ']' * 5000 + '}')
  assert deep.status_code == 400 and 'nesting' in deep.json()['error']
  bomb = gzip.compress(b'{"instances": ["' + b'a' * (50 * 1024 * 1024) + b'"]}')
  assert len(bomb) < LIMITS.max_body_bytes
  inflated = _post(server, f'{MODEL}:predict', bomb, headers={'Content-Encoding': 'gzip'})
  assert inflated.status_code == 413
  many = _post(server, f'{MODEL}:predict', {'instances': ['x'] * 101})
  assert many.status_code == 413  # as gRPC's RESOURCE_EXHAUSTED: the same limit on both APIs
  for name in ('..%2F..%2Fetc', '..', 'taxi%2F..%2F1', 'taxi/../../x'):
    assert _post(server, f'{name}:predict', {'instances': ['x']}).status_code == 404
  metrics = requests.get(f'{server.rest_url}/monitoring/prometheus/metrics', timeout=10).text
  assert 'ctpipe_serving_requests_total{' in metrics and 'status="413"' in metrics
  ok = _post(server, f'{MODEL}:predict',
             {'instances': [{'b64': base64.b64encode(_examples(1)[0]).decode()}]})
  assert ok.status_code == 200


def test_new_version_takes_over_without_failed_requests(served):
  server, base = served['server'], served['base']
  body = {'instances': [{'b64': base64.b64encode(e).decode()} for e in _examples(2)]}
  codes, seen, stop = [], set(), threading.Event()

  def hammer():
    while not stop.is_set():
      response = _post(server, f'{MODEL}:predict', body)
      codes.append(response.status_code)
      status = requests.get(f'{server.rest_url}/v1/models/{MODEL}/labels/stable', timeout=10)
      seen.add(status.json()['model_version_status'][0]['version'])

  thread = threading.Thread(target=hammer)
  thread.start()
  try:
    time.sleep(0.5)
    _publish_copy(base, 1, 2)
    assert server.manager.wait_for_version(2).state == versions.AVAILABLE
    time.sleep(0.5)
  finally:
    stop.set()
    thread.join()
  assert codes and set(codes) == {200}
  assert seen == {'1', '2'}
  assert server.manager.status(1).state == versions.END
  # A version that cannot load never takes traffic; its error is in the status.
  broken = os.path.join(base, '.incoming-3')
  shutil.copytree(os.path.join(base, '2'), broken)
  with open(os.path.join(broken, 'saved_model.pb'), 'wb') as f:
    f.write(b'not a saved model')
  os.rename(broken, os.path.join(base, '3'))
  status = server.manager.wait_for_version(3)
  assert status.state == versions.END and status.error
  assert server.manager.serving().version == 2
  rest = requests.get(f'{server.rest_url}/v1/models/{MODEL}/versions/3', timeout=10).json()
  assert rest['model_version_status'][0]['status']['error_code'] != 'OK'
  assert _post(server, f'{MODEL}:predict', body).status_code == 200
  shutil.rmtree(os.path.join(base, '3'))


def _wait_serving(server, version, timeout_s=30):
  deadline = time.time() + timeout_s
  while server.manager.serving().version != version and time.time() < deadline:
    time.sleep(0.1)
  assert server.manager.serving().version == version


def test_rollback_trusts_what_loads_not_what_folders_say(served):
  server, base, home = served['server'], served['base'], served['home']
  if 2 not in versions.list_versions(base):
    _publish_copy(base, 1, 2)
  _wait_serving(server, 2)
  hidden = os.path.join(base, '.incoming-3')
  shutil.copytree(os.path.join(base, '1'), hidden)
  with open(os.path.join(hidden, 'saved_model.pb'), 'r+b') as f:
    f.truncate(100)  # a truncated copy: the folder is there, the model does not load
  os.rename(hidden, os.path.join(base, '3'))
  assert server.manager.wait_for_version(3).state == versions.END
  assert versions.read_served_state(base)['serving'] == 2  # what the server says it serves
  config = metadata.sqlite_config(home.metadata_path, read_only=False)
  try:
    with pytest.raises(ValueError, match='version 3 does not load.*version 2 still serves'):
      rollback.rollback(base, config, 'ctpipe-taxi', to_version=3)
    assert 'pinned' not in versions.read_policy(base)
    result = rollback.rollback(base, config, 'ctpipe-taxi', reason='test: from what serves')
    # From 2 (served), not from 3 (the newest folder, which never served).
    assert (result.from_version, result.to_version, result.now_serving) == (2, 1, 1)
    assert result.server_running and server.manager.serving().version == 1
  finally:
    rollback.rollback(base, config, 'ctpipe-taxi', clear=True, wait_seconds=0)
    shutil.rmtree(os.path.join(base, '3'))
  _wait_serving(server, 2)


def test_rollback_pins_a_version_and_is_recorded(served):
  server, base, home = served['server'], served['base'], served['home']
  if 2 not in versions.list_versions(base):
    _publish_copy(base, 1, 2)
    server.manager.wait_for_version(2)
  config = metadata.sqlite_config(home.metadata_path, read_only=False)
  result = rollback.rollback(base, config, 'ctpipe-taxi', reason='test: bad canary')
  assert (result.from_version, result.to_version) == (2, 1)
  deadline = time.time() + 30
  while server.manager.serving().version != 1 and time.time() < deadline:
    time.sleep(0.1)
  assert server.manager.serving().version == 1
  assert server.manager.labels() == {'stable': 1}
  tf_config = open(os.path.join(os.path.dirname(base), 'models.config')).read()
  assert 'specific' in tf_config and 'versions: 1' in tf_config and 'versions: 2' not in tf_config
  reader = MetadataReader.open_sqlite(home.metadata_path, 'ctpipe-taxi')
  [execution] = reader.store.get_executions_by_id([result.execution_id])
  assert execution.properties['to_version'].int_value == 1
  assert execution.properties['reason'].string_value == 'test: bad canary'
  with pytest.raises(ValueError):
    rollback.rollback(base, config, 'ctpipe-taxi', to_version=7)
  cleared = rollback.rollback(base, config, 'ctpipe-taxi', clear=True)
  assert cleared.to_version is None
  deadline = time.time() + 30
  while server.manager.serving().version != 2 and time.time() < deadline:
    time.sleep(0.1)
  assert server.manager.serving().version == 2
  assert 'latest' in open(os.path.join(os.path.dirname(base), 'models.config')).read()


def test_warmup_file_is_in_the_pushed_model(pushed_home):
  _, base, _, _ = pushed_home
  logs = list(warmup.read(os.path.join(base, '1')))
  kinds = sorted(log.WhichOneof('log_type') for log in logs)
  # classify, regress, and predict on serving_default, serving_raw and transform_labels.
  assert kinds == ['classify_log', 'predict_log', 'predict_log', 'predict_log', 'regress_log']
  assert os.path.exists(os.path.join(base, '1', 'assets.extra', 'schema.pbtxt'))


def test_request_log_has_one_line_per_served_request(served):
  server = served['server']
  log_dir = server.observer._log.handlers[0].baseFilename  # pylint: disable=protected-access
  before = sum(1 for _ in open(log_dir))
  _post(server, f'{MODEL}:predict',
        {'instances': [{'b64': base64.b64encode(_examples(1)[0]).decode()}]})
  lines = open(log_dir).read().splitlines()
  assert len(lines) == before + 1
  record = json.loads(lines[-1])
  assert record['api'] == 'predict' and 'predictions' in record['response']


def test_grpc_requests_are_logged_like_rest_ones(served):
  """Skew and live metrics read the log: gRPC traffic must be in it, in the same shape."""
  server = served['server']
  log_path = server.observer._log.handlers[0].baseFilename  # pylint: disable=protected-access
  before = sum(1 for _ in open(log_path))
  raw = predict_pb2.PredictRequest()
  raw.model_spec.name = MODEL
  raw.model_spec.signature_name = 'serving_raw'
  columns = _raw_inputs(server, n=3)
  for name, values in columns.items():
    raw.inputs[name].CopyFrom(tf.make_tensor_proto(values))
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = MODEL
  classify.model_spec.signature_name = 'classify'
  for e in _examples(2):
    classify.input.example_list.examples.add().ParseFromString(e)
  with grpc.insecure_channel(server.grpc_target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    answer = stub.Predict(raw, timeout=30, metadata=[('x-request-id', 'grpc-req-1')])
    stub.Classify(classify, timeout=30)
  records = [json.loads(line) for line in open(log_path).read().splitlines()[before:]]
  assert [r['api'] for r in records] == ['predict', 'classify']
  assert records[0]['request_id'] == 'grpc-req-1'
  assert {r['model'] for r in records} == {MODEL}  # one log for every model a server serves
  rows = feedback.rows_of(records[0])
  expected = tf.make_ndarray(answer.outputs['probability']).reshape(-1)
  np.testing.assert_allclose([p for _, p in rows], expected, rtol=1e-6)
  assert [f['payment_type'] for f, _ in rows] == [
      v.decode() if isinstance(v, bytes) else v for v in columns['payment_type']]
  assert len(feedback.rows_of(records[1])) == 2


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_ctpipe_serve_command_serves_and_stops_on_interrupt(served, tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  rest_port, grpc_port = _free_port(), _free_port()
  proc = subprocess.Popen(
      [sys.executable, '-m', 'ctpipe.cli', 'serve', '--model-base-path', served['base'],
       '--home', str(tmp_path), '--rest-port', str(rest_port), '--grpc-port', str(grpc_port)],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    deadline = time.time() + 120
    status = None
    while time.time() < deadline and proc.poll() is None:
      try:
        status = requests.get(f'http://127.0.0.1:{rest_port}/v1/models/{MODEL}', timeout=2)
        break
      except (requests.ConnectionError, requests.Timeout):
        # Both ports are bound before the first version loads: a request may wait.
        time.sleep(0.5)
    assert status is not None and status.status_code == 200, proc.poll()
    body = {'instances': [{'b64': base64.b64encode(e).decode()} for e in _examples(2)]}
    answer = requests.post(f'http://127.0.0.1:{rest_port}/v1/models/{MODEL}:predict',
                           data=json.dumps(body), timeout=30)
    assert answer.status_code == 200 and len(answer.json()['predictions']) == 2
  finally:
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
  assert proc.returncode == 0, output
  assert 'serving taxi' in output and 'cuda' not in output.lower()  # TF chatter in the log file
