"""The check before every push: the candidate answers real requests through the serving stack.

TFX's InfraValidator needs Docker. This loads the candidate into the same model server
`ctpipe serve` runs (TF Serving's REST and gRPC APIs, warmup before traffic) on
loopback ports, and sends requests built from evaluation examples: REST and gRPC,
both signatures, plus Classify and Regress where the task has them. Every answer must be
well-formed for the model's task (a probability; probabilities that sum to 1; a finite
value) and the same whichever API or signature served it.

The checked model is written with TF Serving warmup requests
(`assets.extra/tf_serving_warmup_requests`) built from the same examples; that copy
is what the Pusher publishes.
"""
import base64
import dataclasses
import glob
import json
import math
import os
import tempfile
import time
from typing import Dict, List, Sequence

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, prediction_service_pb2_grpc)

from ctpipe.model_server import warmup
from ctpipe.model_server.local import LocalServer
from ctpipe.model_server.served_model import (InputSpec, ServedModel, input_specs_of,
                                       read_signature_defs)
from ctpipe.model_server.versions import AVAILABLE
from models import outputs

TOLERANCE = 1e-5
REQUEST_TIMEOUT_S = 30


@dataclasses.dataclass
class CheckReport:
  passed: bool
  problems: List[str]
  requests_sent: int
  seconds: float

  def reason(self) -> str:
    return 'passed' if self.passed else '; '.join(self.problems)


def read_examples(split_dir: str, limit: int) -> List[bytes]:
  files = sorted(glob.glob(os.path.join(split_dir, '*')))
  if not files:
    raise FileNotFoundError(f'no examples in {split_dir}')
  out = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP').take(limit):
    out.append(record.numpy())
  return out


def raw_columns(specs: Sequence[InputSpec], examples: Sequence[bytes]) -> Dict[str, list]:
  """serving_raw inputs from tf.Examples; a missing value becomes its marker."""
  columns: Dict[str, list] = {}
  parsed = [tf.train.Example.FromString(e) for e in examples]
  for spec in specs:
    values = []
    for example in parsed:
      feature = example.features.feature.get(spec.name)
      kind = feature.WhichOneof('kind') if feature is not None else None
      found = list(getattr(feature, kind).value) if kind else []
      if spec.dtype == tf.string:
        values.append(found[0].decode() if found else '')
      elif spec.dtype.is_floating:
        values.append(float(found[0]) if found else float('nan'))
      else:
        values.append(int(found[0]) if found else -1)
    columns[spec.name] = values
  return columns


def prepare_candidate(model_dir: str, target_dir: str, model_name: str,
                      examples: Sequence[bytes]) -> None:
  """Copies the model to target_dir and writes its warmup requests there."""
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  io_utils.copy_dir(model_dir, target_dir)
  signature_defs = read_signature_defs(target_dir)
  logs = warmup.build_requests(
      model_name, examples, raw_columns(input_specs_of(signature_defs['serving_raw']), examples),
      sorted(signature_defs))
  warmup.write(target_dir, logs)


class _Checker:

  def __init__(self, server: LocalServer, model_name: str, served: ServedModel,
               examples: Sequence[bytes]):
    self.server = server
    self.model_name = model_name
    self.served = served
    self.examples = list(examples)
    self.problems: List[str] = []
    self.sent = 0
    self.answers: Dict[str, np.ndarray] = {}
    self.raw = raw_columns(served.input_specs('serving_raw'), self.examples)
    defs = served.signature_defs
    self.signatures = sorted(name for name in ('serving_default', 'serving_raw', 'classify',
                                               'regress') if name in defs)
    output_names = list(defs['serving_default'].outputs)
    self.task = outputs.task_of(output_names)
    # The probability, the probabilities, or the value (named after the label).
    self.score_key = outputs.score_key(self.task, outputs.class_key(output_names))
    self.class_names = self._classes_of_classify() if 'classify' in defs else []

  def _classes_of_classify(self) -> List[str]:
    """Classify's class names, in its score order (answered for the first example)."""
    body = {'signature_name': 'classify', 'examples': [_example_json(self.examples[0])]}
    return [label for label, _ in self._rest('classify', body)['results'][0]]

  def _record(self, what: str, answer) -> None:
    rows = len(self.examples)
    values = np.asarray(answer, dtype=float).reshape(rows, -1) if np.size(answer) % max(
        rows, 1) == 0 and np.size(answer) else np.asarray(answer, dtype=float).reshape(-1, 1)
    width = len(self.class_names) if self.task == outputs.MULTICLASS else 1
    if values.shape != (rows, width):
      self.problems.append(f'{what}: {values.shape[0]}×{values.shape[1]} answers for '
                           f'{rows} examples (expected {rows}×{width})')
    elif self.task == outputs.REGRESSION and not np.all(np.isfinite(values)):
      self.problems.append(f'{what}: answers that are not finite numbers')
    elif self.task != outputs.REGRESSION and not np.all((values >= 0) & (values <= 1)):
      self.problems.append(f'{what}: probabilities outside [0, 1]')
    elif self.task == outputs.MULTICLASS and np.max(np.abs(values.sum(axis=1) - 1)) > 1e-4:
      self.problems.append(f'{what}: class probabilities that do not sum to 1')
    else:
      self.answers[what] = values

  def _scores_of_classes(self, pairs: Dict[str, float]) -> List[float]:
    """A Classify answer's scores: the positive class's (binary) or every class's."""
    if self.task == outputs.BINARY:
      return [pairs['1']]
    return [pairs[name] for name in self.class_names]

  def _rest(self, verb: str, body: dict) -> dict:
    self.sent += 1
    url = f'{self.server.rest_url}/v1/models/{self.model_name}:{verb}'
    # json.dumps, not requests' json=: a missing float is NaN, which TF Serving's parser
    # accepts and requests' encoder refuses.
    response = requests.post(url, data=json.dumps(body), timeout=REQUEST_TIMEOUT_S,
                             headers={'Content-Type': 'application/json'})
    if response.status_code != 200:
      raise RuntimeError(f'REST {verb} answered {response.status_code}: {response.text[:300]}')
    return response.json()

  def _scores(self, answered) -> list:
    """The scored output of a predict answer (a bare value when it is the only output)."""
    return answered[self.score_key] if isinstance(answered, dict) else answered

  def run_rest(self) -> None:
    b64 = [{'b64': base64.b64encode(e).decode()} for e in self.examples]
    rows = self._rest('predict', {'signature_name': 'serving_default', 'instances': b64})
    self._record('REST predict serving_default (rows)',
                 [self._scores(p) for p in rows['predictions']])
    columns = self._rest('predict', {'signature_name': 'serving_raw', 'inputs': self.raw})
    self._record('REST predict serving_raw (columns)', self._scores(columns['outputs']))
    json_examples = [_example_json(e) for e in self.examples]
    if 'classify' in self.signatures:
      classified = self._rest('classify', {'signature_name': 'classify',
                                           'examples': json_examples})
      self._record('REST classify', [self._scores_of_classes(dict(r))
                                     for r in classified['results']])
    if 'regress' in self.signatures:
      regressed = self._rest('regress', {'signature_name': 'regress', 'examples': json_examples})
      self._record('REST regress', regressed['results'])

  def run_grpc(self) -> None:
    with grpc.insecure_channel(self.server.grpc_target) as channel:
      predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
      status = model_service_pb2_grpc.ModelServiceStub(channel)
      request = get_model_status_pb2.GetModelStatusRequest()
      request.model_spec.name = self.model_name
      self.sent += 1
      states = [s.state for s in status.GetModelStatus(request, timeout=REQUEST_TIMEOUT_S)
                .model_version_status]
      if AVAILABLE not in states:
        self.problems.append(f'gRPC GetModelStatus: no AVAILABLE version ({states})')
      metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
      metadata.model_spec.name = self.model_name
      self.sent += 1
      predict.GetModelMetadata(metadata, timeout=REQUEST_TIMEOUT_S)
      # The same requests the warmup file holds, one per signature.
      for log in warmup.build_requests(self.model_name, self.examples, self.raw,
                                       self.signatures):
        self.sent += 1
        kind = log.WhichOneof('log_type')
        if kind == 'predict_log':
          request = log.predict_log.request
          out = predict.Predict(request, timeout=REQUEST_TIMEOUT_S)
          self._record(f'gRPC predict {request.model_spec.signature_name}',
                       tf.make_ndarray(out.outputs[self.score_key]))
        elif kind == 'classify_log':
          classes = predict.Classify(log.classify_log.request,
                                     timeout=REQUEST_TIMEOUT_S).result.classifications
          self._record('gRPC classify', [
              self._scores_of_classes({c.label: c.score for c in r.classes}) for r in classes])
        else:
          values = predict.Regress(log.regress_log.request,
                                   timeout=REQUEST_TIMEOUT_S).result.regressions
          self._record('gRPC regress', [r.value for r in values])

  def compare(self) -> None:
    if not self.answers:
      return
    reference_name, reference = next(iter(self.answers.items()))
    scale = 1.0 if self.task != outputs.REGRESSION else max(1.0, float(np.max(np.abs(reference))))
    for name, values in self.answers.items():
      gap = float(np.max(np.abs(values - reference))) / scale
      if gap > TOLERANCE:
        self.problems.append(f'{name} differs from {reference_name} by {gap:.2e}'
                             + (' (relative)' if scale != 1.0 else ''))


def _example_json(serialized: bytes) -> dict:
  example = tf.train.Example.FromString(serialized)
  out = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    if not values:
      continue
    if kind == 'bytes_list':
      values = [v.decode('utf-8') for v in values]
    elif kind == 'float_list':
      values = [float(v) for v in values if not math.isnan(v)]
    out[name] = values
  return out


def check_candidate(candidate_dir: str, model_name: str, examples: Sequence[bytes],
                    load_timeout_s: float = 120) -> CheckReport:
  """Serves `candidate_dir` as version 1 on loopback and checks every API on `examples`."""
  start = time.time()
  with tempfile.TemporaryDirectory(prefix='ctpipe-serving-check-') as base:
    os.symlink(os.path.abspath(candidate_dir), os.path.join(base, '1'))
    with LocalServer(model_name, base) as server:
      status = server.manager.wait_for_version(1, load_timeout_s)
      if status.state != AVAILABLE:
        return CheckReport(False, [f'the model did not load or warm up: {status.error}'], 0,
                           time.time() - start)
      checker = _Checker(server, model_name, server.manager.serving(), examples)
      for step in (checker.run_rest, checker.run_grpc):
        try:
          step()
        except (RuntimeError, grpc.RpcError, requests.RequestException, KeyError,
                ValueError, TypeError) as e:
          checker.problems.append(f'{step.__name__[4:].upper()}: {type(e).__name__}: {e}')
      checker.compare()
      return CheckReport(not checker.problems, checker.problems, checker.sent,
                         time.time() - start)
