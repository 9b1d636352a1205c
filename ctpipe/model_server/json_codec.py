"""TF Serving's REST JSON: row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}`.

Also the guards that run before any JSON is decoded: nesting depth (TF Serving crashed
on deeply nested JSON, CVE-2025-0649) and the number of instances.
"""
import base64
import binascii
import json
import re
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import orjson
import tensorflow as tf
import ujson

from ctpipe.model_server.served_model import FLOAT32_MAX, InputSpec, RequestError, TooLargeError

# A JSON string literal: brackets inside one do not nest anything.
_STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
# A run of 19+ digits: maybe an integer literal beyond 64 bits, which orjson reads as a
# rounded float. Found by mapping digits to b'0' and the rest to b' ' (bytes.translate
# runs at C speed, an order of magnitude faster than a regex here).
_DIGITS_AS_ZEROS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_RUN = b'0' * 19
# A \uD800-\uDFFF escape: a lone one decodes to a string no UTF-8 encoder writes.
_SURROGATE = re.compile(rb'\\u[dD][89a-fA-F]')
_OPEN, _CLOSE = np.frombuffer(b'[{', np.uint8), np.frombuffer(b']}', np.uint8)


def check_depth(body: bytes, max_depth: int) -> None:
  """Rejects nesting deeper than max_depth before any parsing, without recursing.

  String literals are blanked first; then the running depth over the whole body is one
  cumulative sum (a 4 MiB body is checked in milliseconds).
  """
  if body.count(b'[') + body.count(b'{') <= max_depth:
    return  # cannot nest deeper than it has brackets
  stripped = np.frombuffer(_STRING_LITERAL.sub(b'""', body), np.uint8)
  opens = np.isin(stripped, _OPEN)
  if not opens.any():
    return
  steps = opens.astype(np.int32) - np.isin(stripped, _CLOSE).astype(np.int32)
  if int(np.cumsum(steps).max()) > max_depth:
    raise RequestError(f'JSON nesting deeper than {max_depth} levels')


def parse_body(body: bytes, max_depth: int) -> Dict[str, Any]:
  check_depth(body, max_depth)
  # orjson (much faster than the standard library on large requests) rejects
  # what JSON forbids but TF Serving accepts and its clients send: NaN and Infinity,
  # the float missing markers. Those bodies take ujson, which reads them (faster than
  # the standard library too; docs/performance.md). What both
  # refuse gets the standard library's error, which says where. orjson also reads an
  # integer beyond 64 bits as a rounded float: bodies with such digit runs skip it, so
  # an out-of-range integer is refused rather than rounded into range.
  try:
    if _LONG_RUN in body.translate(_DIGITS_AS_ZEROS):
      raise orjson.JSONDecodeError('long integer literal', '', 0)
    value = orjson.loads(body)
  except orjson.JSONDecodeError:
    try:
      value = ujson.loads(body)
    except (ujson.JSONDecodeError, ValueError, OverflowError):
      try:
        value = json.loads(body)
      except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # ValueError: also an integer of more digits than Python converts (4,300).
        raise RequestError(f'JSON Parse error: {e}') from e
    if _SURROGATE.search(body):
      _check_strings(value)
  if not isinstance(value, dict):
    raise RequestError('JSON Value is not an object')
  return value


def _check_strings(value: Any) -> None:
  """Every string (and key) encodes as UTF-8: a lone surrogate escape does not."""
  pending = [value]
  while pending:
    item = pending.pop()
    if isinstance(item, dict):
      pending.extend(item.keys())
      pending.extend(item.values())
    elif isinstance(item, list):
      pending.extend(item)
    elif isinstance(item, str):
      try:
        item.encode('utf-8')
      except UnicodeEncodeError as e:
        raise RequestError(f'JSON Parse error: a string holds a lone surrogate ({e.reason})'
                           ) from e


def output_filter(body: Mapping[str, Any]) -> Tuple[str, ...]:
  """The body's `output_filter`: a list of output names (absent or null: every output)."""
  names = body.get('output_filter')
  if names is None:
    return ()
  if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
    raise RequestError('"output_filter" must be a list of output names (strings)')
  return tuple(names)


def dumps(result: Mapping[str, Any]) -> bytes:
  """A response body. orjson (an order of magnitude faster than json) writes NaN and
  Infinity as null, and TF Serving writes them as NaN and Infinity: a body with a null
  (none of ours has one otherwise) is written again by the standard library."""
  body = orjson.dumps(result)
  if b'null' in body:
    return json.dumps(result).encode()
  return body


def _decode_value(value: Any, where: str) -> Any:
  if isinstance(value, dict):
    if set(value) != {'b64'} or not isinstance(value['b64'], str):
      raise RequestError(f'{where}: an object value must be {{"b64": "<base64 string>"}}')
    try:
      return base64.b64decode(value['b64'], validate=True)
    except (binascii.Error, ValueError) as e:
      raise RequestError(f'{where}: invalid base64: {e}') from e
  if isinstance(value, list):
    return [_decode_value(v, where) for v in value]
  if value is None:
    raise RequestError(f'{where}: null is not a value; send the missing marker of the input')
  return value


def _fast_array(values: Any, spec: InputSpec) -> Any:
  """The common case without a per-value walk: a flat list of plain strings or numbers."""
  if not isinstance(values, list) or not values:
    return None
  if spec.dtype == tf.string:
    return np.array(values, dtype=object) if all(type(v) is str for v in values) else None
  try:
    array = np.array(values)
  except (ValueError, TypeError, OverflowError):
    return None  # the walk below says what is wrong
  return array if array.dtype.kind in 'iuf' else None


def _array(values: Any, spec: InputSpec, where: str) -> np.ndarray:
  fast = _fast_array(values, spec)
  if fast is not None:
    return fast
  decoded = _decode_value(values, where)
  try:
    if spec.dtype == tf.string:
      array = np.array(decoded, dtype=object)
    else:
      array = np.array(decoded)
  except (ValueError, TypeError, OverflowError) as e:
    raise RequestError(f'{where}: values of uneven shape or mixed types: {e}') from e
  if array.dtype == object and spec.dtype != tf.string:
    if any(type(v) is int and not -2**63 <= v < 2**64 for v in array.reshape(-1)):
      raise RequestError(f'{where}: an integer beyond 64 bits')
    raise RequestError(f'{where}: values of uneven shape or mixed types')
  return array


def request_inputs(body: Mapping[str, Any], specs: Sequence[InputSpec], max_instances: int
                   ) -> Tuple[Dict[str, np.ndarray], bool]:
  """Named arrays from a predict body; True when it used the row (`instances`) format."""
  if ('instances' in body) == ('inputs' in body):
    raise RequestError('Missing \'instances\' or \'inputs\' key (give exactly one)')
  by_name = {s.name: s for s in specs}
  if 'instances' in body:
    instances = body['instances']
    if not isinstance(instances, list):
      raise RequestError('"instances" must be a list')
    if len(instances) > max_instances:
      raise TooLargeError(f'{len(instances)} instances; at most {max_instances} per request')
    if not instances:
      raise RequestError('"instances" is empty')
    if len(specs) == 1 and not all(isinstance(i, dict) and specs[0].name in i for i in instances):
      spec = specs[0]
      return {spec.name: _array(instances, spec, 'instances')}, True
    columns: Dict[str, List[Any]] = {}
    for row, instance in enumerate(instances):
      if not isinstance(instance, dict):
        raise RequestError(f'instance {row}: expected an object with inputs {sorted(by_name)}')
      if set(instance) != set(columns or instance):
        raise RequestError(f'instance {row}: every instance needs the same named inputs')
      for key, value in instance.items():
        columns.setdefault(key, []).append(value)
    _check_names(columns, by_name)
    return {k: _array(v, by_name[k], f'input "{k}"') for k, v in columns.items()}, True
  inputs = body['inputs']
  if isinstance(inputs, dict):
    _check_names(inputs, by_name)
    arrays = {k: _array(v, by_name[k], f'input "{k}"') for k, v in inputs.items()}
  elif len(specs) == 1:
    arrays = {specs[0].name: _array(inputs, specs[0], 'inputs')}
  else:
    raise RequestError(f'"inputs" must name the signature\'s inputs {sorted(by_name)}')
  for key, array in arrays.items():
    if array.ndim and array.shape[0] > max_instances:
      raise TooLargeError(f'input "{key}" has {array.shape[0]} rows; at most {max_instances}')
  return arrays, False


def _check_names(given: Mapping[str, Any], by_name: Mapping[str, InputSpec]) -> None:
  unknown = sorted(set(given) - set(by_name))
  if unknown:
    raise RequestError(f'unknown inputs {unknown}; the signature takes {sorted(by_name)}')


def _jsonable(array: np.ndarray, name: str) -> Any:
  if array.dtype == object or array.dtype.kind == 'S':
    flat = []
    for v in array.reshape(-1):
      if isinstance(v, bytes):
        flat.append({'b64': base64.b64encode(v).decode()} if name.endswith('_bytes')
                    else v.decode('utf-8', 'replace'))
      else:
        flat.append(v)
    return np.array(flat, dtype=object).reshape(array.shape).tolist()
  if array.dtype.kind == 'f':
    return np.where(np.isfinite(array), array, np.nan).tolist()
  return array.tolist()


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> Dict[str, Any]:
  if row_format:
    names = sorted(outputs)
    if len(names) == 1:
      return {'predictions': _jsonable(outputs[names[0]], names[0])}
    size = len(next(iter(outputs.values())))
    columns = {n: _jsonable(outputs[n], n) for n in names}
    return {'predictions': [{n: columns[n][i] for n in names} for i in range(size)]}
  if len(outputs) == 1:
    name = next(iter(outputs))
    return {'outputs': _jsonable(outputs[name], name)}
  return {'outputs': {n: _jsonable(v, n) for n, v in outputs.items()}}


def _feature(value: Any, where: str, is_float: bool = False) -> tf.train.Feature:
  """`is_float`: the schema types the feature as a float, so whole numbers are floats
  (JSON cannot tell 12 from 12.0, and TF's parsing refuses int64 for a float)."""
  values = _decode_value(value if isinstance(value, list) else [value], where)
  if any(isinstance(v, list) for v in values):
    raise RequestError(f'{where}: a feature is a value or a flat list of values')
  if all(isinstance(v, bool) for v in values) and values:
    raise RequestError(f'{where}: booleans are not tf.Example values')
  if not values:
    return tf.train.Feature()  # no values: the feature is missing, whatever its kind
  if not is_float and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
    if any(abs(v) >= 2**63 for v in values):
      raise RequestError(f'{where}: integer out of int64 range')
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
  if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
    if not all(abs(v) <= FLOAT32_MAX for v in values if v == v):  # NaN is let through
      raise RequestError(f'{where}: a value beyond float32\'s range (or infinite)')
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))
  if all(isinstance(v, (str, bytes)) for v in values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode() if isinstance(v, str) else v for v in values]))
  raise RequestError(f'{where}: mixed or unsupported value types')


def examples_from_body(body: Mapping[str, Any], max_instances: int,
                       float_features: frozenset = frozenset()) -> List[bytes]:
  """Serialized tf.Examples of a classify/regress body (`examples` plus optional `context`);
  `float_features` are written as floats whatever their JSON numbers look like."""
  examples = body.get('examples')
  if not isinstance(examples, list) or not examples:
    raise RequestError('"examples" must be a non-empty list of objects')
  if len(examples) > max_instances:
    raise TooLargeError(f'{len(examples)} examples; at most {max_instances} per request')
  context = body.get('context', {})
  if not isinstance(context, dict):
    raise RequestError('"context" must be an object')
  serialized = []
  for row, example in enumerate(examples):
    if not isinstance(example, dict):
      raise RequestError(f'example {row} must be an object of features')
    proto = tf.train.Example()
    for key, value in {**context, **example}.items():
      proto.features.feature[key].CopyFrom(_feature(value, f'example {row}, feature "{key}"',
                                                    key in float_features))
    serialized.append(proto.SerializeToString())
  return serialized
