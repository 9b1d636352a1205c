"""One loaded model version: its signatures, and Predict / Classify / Regress on them.

The signature map is read from saved_model.pb itself (the same SignatureDefs TF
Serving reports), and each call checks its inputs against the signature before
TensorFlow sees them, so a bad request is a `RequestError` (HTTP 400 /
INVALID_ARGUMENT) and never an exception inside a graph.
"""
import dataclasses
import os
import threading
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from ctpipe.model_server import tensors

CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'
PREDICT_METHOD = 'tensorflow/serving/predict'
# Keras' own SavedModel bookkeeping, not a serving signature.
_HIDDEN_SIGNATURES = ('__saved_model_init_op',)
FLOAT32_MAX = float(np.finfo(np.float32).max)


class RequestError(ValueError):
  """The request is wrong (400 / INVALID_ARGUMENT); the message says what and where."""


class TooLargeError(RequestError):
  """The request asks for more than the server's limits allow (413 / RESOURCE_EXHAUSTED)."""


class NotFoundError(LookupError):
  """Unknown model, version, label or signature (404 / NOT_FOUND)."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
  name: str
  dtype: tf.DType
  shape: tf.TensorShape


def read_signature_defs(model_dir: str) -> Dict[str, meta_graph_pb2.SignatureDef]:
  """The serving MetaGraph's SignatureDefs, as TF Serving reads them."""
  path = os.path.join(model_dir, 'saved_model.pb')
  saved = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved.ParseFromString(f.read())
  for meta_graph in saved.meta_graphs:
    if 'serve' in meta_graph.meta_info_def.tags:
      return {k: v for k, v in meta_graph.signature_def.items() if k not in _HIDDEN_SIGNATURES}
  raise RequestError(f'{model_dir} has no MetaGraph tagged "serve"')


def input_specs_of(signature_def: meta_graph_pb2.SignatureDef) -> List[InputSpec]:
  """Input specs from the proto alone, without loading the model."""
  return [InputSpec(name, tf.as_dtype(info.dtype), tf.TensorShape(info.tensor_shape))
          for name, info in sorted(signature_def.inputs.items())]


class ServedModel:
  """A loaded SavedModel version."""

  def __init__(self, model_dir: str, version: int):
    self.model_dir = model_dir
    self.version = version
    self.signature_defs = read_signature_defs(model_dir)
    self._loaded = tf.saved_model.load(model_dir)
    self._functions = dict(self._loaded.signatures)
    self._input_specs: Dict[str, List[InputSpec]] = {}
    self._direct_calls = True
    self._packed_functions: Dict[str, Optional[tuple]] = {}
    self._packing = threading.Lock()
    self._packing_locks: Dict[str, threading.Lock] = {}
    missing = sorted(set(self.signature_defs) - set(self._functions))
    if missing:
      raise RequestError(f'signatures {missing} are declared but cannot be called')

  def signature(self, name: Optional[str]) -> str:
    name = name or 'serving_default'
    if name not in self.signature_defs:
      raise RequestError(f"Serving signature name: \"{name}\" not found in signature def; "
                         f"available: {sorted(self.signature_defs)}")
    return name

  def input_specs(self, signature: str) -> List[InputSpec]:
    specs = self._input_specs.get(signature)
    if specs is None:  # asked on every request: built once per signature
      _, kwargs = self._functions[signature].structured_input_signature
      specs = [InputSpec(name, spec.dtype, spec.shape) for name, spec in sorted(kwargs.items())]
      self._input_specs[signature] = specs
    return specs

  def method(self, signature: str) -> str:
    return self.signature_defs[signature].method_name or PREDICT_METHOD

  def predict(self, signature: Optional[str], inputs: Mapping[str, np.ndarray],
              output_filter: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Runs a signature on named arrays; every input is checked against its spec first."""
    name = self.signature(signature)
    specs = {s.name: s for s in self.input_specs(name)}
    unknown = sorted(set(inputs) - set(specs))
    missing = sorted(set(specs) - set(inputs))
    if unknown or missing:
      problems = []
      if missing:
        problems.append(f'missing inputs {missing}')
      if unknown:
        problems.append(f'unknown inputs {unknown}')
      raise RequestError(f'signature "{name}": ' + '; '.join(problems) +
                         f'; expected {sorted(specs)}')
    arrays = {}
    batch = None
    for key, value in inputs.items():
      arrays[key] = _to_array(key, value, specs[key])
      shape = np.shape(value)
      size = shape[0] if shape else None
      if batch is None:
        batch = size
      elif size != batch:
        raise RequestError(f'input "{key}" has {size} rows, the others {batch}; '
                           'every input needs the same batch size')
    try:
      outputs = self._call_packed(name, arrays)
    except UnicodeEncodeError as e:
      raise RequestError(f'a string input is not valid Unicode ({e.reason})') from e
    except tf.errors.InvalidArgumentError as e:
      # The graph refused the input (as TF Serving answers INVALID_ARGUMENT for it): the
      # checks before it missed a case, but the request, not the server, is at fault.
      raise RequestError(f'signature "{name}" refused the input: {_tf_reason(e)}') from e
    unknown_out = sorted(set(output_filter) - set(outputs))
    if unknown_out:
      raise RequestError(f'output_filter names unknown outputs {unknown_out}; '
                         f'available: {sorted(outputs)}')
    keep = output_filter or sorted(outputs)
    return {k: outputs[k].numpy() for k in keep}

  def _packed(self, name: str):
    """(the signature wrapped by tensors.packed, its string names, its numeric names), or
    None when a string input is not of rank 1 or there is none."""
    if name in self._packed_functions:
      return self._packed_functions[name]
    with self._packing:  # one lock per signature: warmup threads trace theirs in parallel
      lock = self._packing_locks.setdefault(name, threading.Lock())
    with lock:
      if name in self._packed_functions:
        return self._packed_functions[name]
      specs = self.input_specs(name)
      strings = [s.name for s in specs if s.dtype == tf.string]
      numbers = [(s.name, tf.TensorSpec(s.shape, s.dtype)) for s in specs if s.dtype != tf.string]
      usable = strings and all(s.shape.rank == 1 for s in specs if s.dtype == tf.string)
      self._packed_functions[name] = (
          (tensors.packed(self._functions[name], strings, numbers), strings,
           [n for n, _ in numbers]) if usable else None)
      return self._packed_functions[name]

  def _call_packed(self, name: str, arrays: Dict[str, np.ndarray]):
    """The signature on checked arrays: in one graph call with its strings rebuilt there
    (tensors.py: no leaking tensor constructors), else through `_call`."""
    packed = self._packed(name) if self._direct_calls else None
    if packed is None:
      return self._call(name, _tensors(arrays))
    function, strings, numbers = packed
    flat = tensors.pack_strings([arrays[k] for k in strings])
    flat += [tensors.numeric(arrays[k]) for k in numbers]
    return function._call_flat(flat, function.captured_inputs)  # pylint: disable=protected-access

  def _call(self, name: str, inputs: Dict[str, tf.Tensor]):
    """The signature on tensors that already match its specs (`_to_array` checked them).

    The public call binds and re-checks every argument against the signature, a
    large share of a single-example call; the loaded function's flat call takes them in
    the signature's sorted-name order, as its own call path does after binding.
    tests/model_server/test_model_server.py checks both give the same outputs. On a TensorFlow
    without that method, the public call.
    """
    function = self._functions[name]
    if self._direct_calls:
      try:
        return function._call_flat([inputs[key] for key in sorted(inputs)],  # pylint: disable=protected-access
                                   function.captured_inputs)
      except AttributeError:
        self._direct_calls = False
    return function(**inputs)

  def _examples_signature(self, signature: Optional[str], method: str) -> str:
    name = self.signature(signature)
    if self.method(name) != method:
      raise RequestError(f'Expected {method.rsplit("/", 1)[-1]} signature method_name to be '
                         f'{method}. Was: {self.method(name)}')
    return name

  def classify(self, signature: Optional[str], serialized_examples: List[bytes]
               ) -> List[List[tuple]]:
    """[(class label, score), ...] per example, from a classification signature."""
    name = self._examples_signature(signature, CLASSIFY_METHOD)
    outputs = self.predict(name, {'inputs': np.array(serialized_examples, dtype=object)})
    scores = outputs.get('scores')
    classes = outputs.get('classes')
    results = []
    for row in range(len(serialized_examples)):
      labels = ([c.decode() if isinstance(c, bytes) else str(c) for c in classes[row]]
                if classes is not None else [str(i) for i in range(len(scores[row]))])
      results.append([(label, float(scores[row][i]) if scores is not None else None)
                      for i, label in enumerate(labels)])
    return results

  def regress(self, signature: Optional[str], serialized_examples: List[bytes]) -> List[float]:
    name = self._examples_signature(signature, REGRESS_METHOD)
    outputs = self.predict(name, {'inputs': np.array(serialized_examples, dtype=object)})
    return [float(v) for v in np.reshape(outputs['outputs'], [-1])]


def _tf_reason(error: Exception) -> str:
  """The line of a TensorFlow error that says what was wrong (not "Graph execution error")."""
  lines = [line.strip() for line in str(getattr(error, 'message', '') or error).splitlines()]
  for line in lines:
    if line and not line.startswith(('Graph execution error', 'Detected at node', '[[', 'File ',
                                     '<stack traces')):
      return line[:300]
  return 'invalid argument'


def _check_float_range(name: str, value: np.ndarray, spec: InputSpec) -> None:
  """NaN is a value (the missing marker); an infinity, or a number float32 cannot hold
  (which would become one), is refused rather than answered with NaN."""
  if spec.dtype == tf.float32 and value.dtype.kind == 'f' and value.size:
    with np.errstate(invalid='ignore'):
      beyond = np.abs(value) > FLOAT32_MAX
    if beyond.any():
      raise RequestError(f'input "{name}": {value[beyond].reshape(-1)[:3].tolist()} '
                         'infinite or beyond float32\'s range')


def _fast_array(name: str, value: np.ndarray, spec: InputSpec) -> Optional[np.ndarray]:
  """The common, valid case without the checks below: a flat array of the right kind."""
  if value.ndim != 1 or spec.shape.rank != 1:
    return None
  kind = value.dtype.kind
  if spec.dtype.is_floating and kind == 'f':
    _check_float_range(name, value, spec)
    return value.astype(spec.dtype.as_numpy_dtype, copy=False)
  if spec.dtype == tf.int64 and kind == 'i':
    return value.astype(np.int64, copy=False)
  if spec.dtype == tf.string and kind == 'O' and all(type(v) in (str, bytes) for v in value):
    return value
  return None


def _to_array(name: str, value: np.ndarray, spec: InputSpec) -> np.ndarray:
  """The input checked against its spec, as an array of the spec's dtype (strings: an
  object array of str or bytes); RequestError says what does not fit."""
  value = np.asarray(value)
  fast = _fast_array(name, value, spec)
  if fast is not None:
    return fast
  if spec.dtype == tf.string:
    if value.dtype.kind not in ('O', 'S', 'U') and value.size:
      raise RequestError(f'input "{name}" must be strings (DT_STRING), got {value.dtype}')
    try:
      flat = [v if isinstance(v, bytes) else str(v).encode() for v in value.reshape(-1)]
    except UnicodeEncodeError as e:
      raise RequestError(f'input "{name}": a string that is not valid Unicode ({e.reason})'
                         ) from e
    value = np.array(flat, dtype=object).reshape(value.shape)
  else:
    if value.dtype.kind in ('O', 'S', 'U'):
      raise RequestError(f'input "{name}" must be numbers ({spec.dtype.name}), got strings')
    if value.dtype.kind == 'b' and spec.dtype != tf.bool:
      raise RequestError(f'input "{name}" must be {spec.dtype.name}, got booleans')
    if spec.dtype.is_integer and value.dtype.kind == 'f':
      if not np.all(np.isfinite(value)) or not np.all(np.equal(np.mod(value, 1), 0)):
        raise RequestError(f'input "{name}" must be integers ({spec.dtype.name})')
    _check_float_range(name, value, spec)
    if spec.dtype.is_integer and value.size:
      info = np.iinfo(spec.dtype.as_numpy_dtype)
      # Floats compare against the bounds as floats: int64's max rounds up to 2**63, which
      # no int64 holds, and a JSON integer beyond 64 bits arrives as such a float.
      too_big = (value.max() >= float(info.max) + 1 if value.dtype.kind == 'f'
                 else value.max() > info.max)
      if value.min() < info.min or too_big:
        raise RequestError(f'input "{name}" is out of range for {spec.dtype.name}')
  if not spec.shape.is_compatible_with(value.shape):
    raise RequestError(f'input "{name}" has shape {list(value.shape)}; the signature expects '
                       f'{spec.shape.as_list()} (None: any size)')
  if spec.dtype == tf.string:
    return value
  try:
    return np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
  except (TypeError, ValueError, OverflowError) as e:
    raise RequestError(f'input "{name}" cannot be converted to {spec.dtype.name}: {e}') from e


def _tensors(arrays: Mapping[str, np.ndarray]) -> Dict[str, tf.Tensor]:
  """Checked arrays as tensors (tensors.py: without TensorFlow's constructor leak)."""
  names = [k for k, v in arrays.items() if v.dtype == object]
  built = dict(zip(names, tensors.strings([arrays[k] for k in names])))
  for key, array in arrays.items():
    if key not in built:
      built[key] = tensors.numeric(array)
  return built
