"""Requests checked against the curated schema the model was trained with.

The Trainer ships that schema inside the model (`assets.extra/schema.pbtxt`), so
every version is checked against its own. One 400 lists every problem found, each
with its feature: unknown feature, wrong type, required feature missing, value
outside its domain, a tf.Example feature holding more or fewer values than the
schema's `value_count` allows.
"""
import math
import os
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import message, text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ctpipe.model_server.served_model import RequestError

SCHEMA_FILE = os.path.join('assets.extra', 'schema.pbtxt')
SERVING_ENVIRONMENT = 'SERVING'
MAX_LISTED_PROBLEMS = 50


def load(model_dir: str, model_inputs: Optional[Sequence[str]] = None
         ) -> Optional['SchemaCheck']:
  path = os.path.join(model_dir, SCHEMA_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return SchemaCheck(text_format.Parse(f.read(), schema_pb2.Schema()), model_inputs)


def _in_serving(feature: schema_pb2.Feature, schema: schema_pb2.Schema) -> bool:
  environments = list(feature.in_environment) or list(schema.default_environment)
  return (not environments or SERVING_ENVIRONMENT in environments) and (
      SERVING_ENVIRONMENT not in feature.not_in_environment)


class SchemaCheck:

  def __init__(self, schema: schema_pb2.Schema, model_inputs: Optional[Sequence[str]] = None):
    """`model_inputs`: only these must be present (the schema may require more for training)."""
    self.schema = schema
    string_domains = {d.name: set(d.value) for d in schema.string_domain}
    self.features: Dict[str, schema_pb2.Feature] = {f.name: f for f in schema.feature}
    self.required = sorted(f.name for f in schema.feature
                           if _in_serving(f, schema) and f.presence.min_fraction >= 1.0
                           and (model_inputs is None or f.name in model_inputs))
    self._required = set(self.required)
    # Numeric domains as plain numbers, read once: proto field access on every request
    # was most of a single-row check's cost.
    self._domains: Dict[str, tuple] = {}
    for f in schema.feature:
      field = {schema_pb2.INT: 'int_domain', schema_pb2.FLOAT: 'float_domain'}.get(f.type)
      if field and f.HasField(field):
        d = getattr(f, field)
        self._domains[f.name] = (d.min if d.HasField('min') else None,
                                 d.max if d.HasField('max') else None, d)
    self.float_features = frozenset(f.name for f in schema.feature
                                    if f.type == schema_pb2.FLOAT)
    self.string_values: Dict[str, set] = {}
    for f in schema.feature:
      if f.HasField('string_domain'):
        self.string_values[f.name] = set(f.string_domain.value)
      elif f.domain and f.domain in string_domains:
        self.string_values[f.name] = string_domains[f.domain]

  def _count_problem(self, name: str, count: int) -> Optional[str]:
    """A tf.Example feature's number of values against the schema's value_count."""
    feature = self.features[name]
    if not feature.HasField('value_count'):
      return None
    bounds = feature.value_count
    low = bounds.min if bounds.HasField('min') else 0
    high = bounds.max if bounds.HasField('max') and bounds.max else None
    if count < low or (high is not None and count > high):
      allowed = f'{low}' if high == low else f'{low} to {high if high is not None else "any"}'
      return f"feature '{name}': {count} values; the schema allows {allowed}"
    return None

  def _value_problems(self, name: str, values: Sequence) -> List[str]:
    feature = self.features[name]
    problems = []
    if feature.type in (schema_pb2.INT, schema_pb2.FLOAT) and not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values):
      return [f"feature '{name}': expected numbers"]
    if feature.type == schema_pb2.INT:
      if any(not float(v).is_integer() for v in values):
        return [f"feature '{name}': expected integers"]
      if feature.HasField('int_domain'):
        d = feature.int_domain
        bad = [int(v) for v in values if (d.HasField('min') and int(v) < d.min)
               or (d.HasField('max') and int(v) > d.max)]
        if bad:
          problems.append(f"feature '{name}': {bad[:5]} outside {_interval(d)}")
    elif feature.type == schema_pb2.FLOAT:
      if any(math.isinf(float(v)) for v in values):
        return [f"feature '{name}': infinite values are not accepted"]
      if feature.HasField('float_domain'):
        d = feature.float_domain
        bad = [float(v) for v in values if math.isnan(float(v))
               or (d.HasField('min') and float(v) < d.min)
               or (d.HasField('max') and float(v) > d.max)]
        if bad:
          problems.append(f"feature '{name}': {bad[:5]} outside {_interval(d)}")
    elif feature.type == schema_pb2.BYTES and name in self.string_values:
      bad = sorted({(v.decode('utf-8', 'replace') if isinstance(v, bytes) else str(v))
                    for v in values} - self.string_values[name])
      if bad:
        problems.append(f"feature '{name}': {bad[:5]} not in its domain")
    return problems

  def _raise(self, problems: List[str]) -> None:
    if problems:
      shown = problems[:MAX_LISTED_PROBLEMS]
      more = len(problems) - len(shown)
      raise RequestError('request does not match the schema: ' + '; '.join(shown)
                         + (f'; and {more} more' if more > 0 else ''))

  def check_columns(self, columns: Mapping[str, np.ndarray]) -> None:
    """Named raw tensors (`serving_raw`): "" / NaN / -1 mark a missing value."""
    problems = []
    for name, array in sorted(columns.items()):
      if name not in self.features:
        problems.append(f"feature '{name}': not in the schema")
        continue
      problems.extend(self._column_problems(name, np.asarray(array).reshape(-1)))
    self._raise(problems)

  def _column_problems(self, name: str, flat: np.ndarray) -> List[str]:
    """Problems of one column; numbers and strings are checked as whole arrays."""
    feature = self.features[name]
    if flat.dtype.kind in 'iu' or flat.dtype.kind == 'f':
      missing = np.isnan(flat) if flat.dtype.kind == 'f' else flat == -1
      problems = self._missing_problems(name, missing)
      present = flat[~missing]
      if feature.type == schema_pb2.BYTES:
        return problems + self._value_problems(name, present.tolist())
      return problems + self._numeric_problems(name, feature.type, present)
    values = flat.tolist()
    if all(isinstance(v, (bytes, str)) for v in values):
      missing = np.fromiter((len(v) == 0 for v in values), bool, len(values))
      problems = self._missing_problems(name, missing)
      if feature.type != schema_pb2.BYTES:
        return problems + [f"feature '{name}': expected numbers"]
      domain = self.string_values.get(name)
      if domain is not None:
        found = {v.decode('utf-8', 'replace') if isinstance(v, bytes) else v
                 for v in set(values) if len(v)}
        bad = sorted(found - domain)
        if bad:
          problems.append(f"feature '{name}': {bad[:5]} not in its domain")
      return problems
    missing = np.fromiter((_is_missing(v) for v in values), bool, len(values))
    return self._missing_problems(name, missing) + self._value_problems(
        name, [v for v, m in zip(values, missing) if not m])

  def _missing_problems(self, name: str, missing: np.ndarray) -> List[str]:
    if name in self._required and missing.any():
      return [f"feature '{name}': required, missing in rows {np.flatnonzero(missing)[:10].tolist()}"]
    return []

  def _numeric_problems(self, name: str, kind: int, present: np.ndarray) -> List[str]:
    if kind == schema_pb2.INT:
      if present.dtype.kind == 'f' and not np.all(np.isfinite(present) & (present % 1 == 0)):
        return [f"feature '{name}': expected integers"]
    elif kind != schema_pb2.FLOAT:
      return []
    domain = self._domains.get(name)
    if domain is None or not present.size:
      return []
    low, high, d = domain
    outside = np.zeros(present.shape, bool)
    if low is not None:
      outside |= present < low
    if high is not None:
      outside |= present > high
    if outside.any():
      bad = present[outside][:5]
      bad = [int(v) for v in bad] if kind == schema_pb2.INT else [float(v) for v in bad]
      return [f"feature '{name}': {bad} outside {_interval(d)}"]
    return []

  def check_examples(self, serialized: Sequence[bytes]) -> None:
    problems = []
    for row, data in enumerate(serialized):
      try:
        if not isinstance(data, bytes):
          raise TypeError(type(data).__name__)
        example = tf.train.Example.FromString(data)
      except (TypeError, message.DecodeError) as e:
        problems.append(f'example {row}: not a serialized tf.Example ({e})')
        continue
      present = set()
      for name, feature in sorted(example.features.feature.items()):
        kind = feature.WhichOneof('kind')
        values = list(getattr(feature, kind).value) if kind else []
        if name not in self.features:
          problems.append(f"example {row}: feature '{name}': not in the schema")
          continue
        if values:
          present.add(name)
        count_problem = self._count_problem(name, len(values))
        if count_problem:
          problems.append(f'example {row}: {count_problem}')
          continue
        expected = {schema_pb2.INT: 'int64_list', schema_pb2.FLOAT: 'float_list',
                    schema_pb2.BYTES: 'bytes_list'}.get(self.features[name].type)
        if kind and expected and kind != expected:
          # TF's parsing refuses another kind, even an empty list or int64 for a float.
          problems.append(f"example {row}: feature '{name}': expected {expected}, got {kind}")
          continue
        problems.extend(f'example {row}: {p}' for p in self._value_problems(name, values))
      for name in self.required:
        if name not in present:
          problems.append(f"example {row}: feature '{name}': required, missing")
    self._raise(problems)


def _interval(domain) -> str:
  """A domain as an interval: '[1, 77]', or '[0.0, inf)' when it has no maximum."""
  low = f'[{domain.min}' if domain.HasField('min') else '(-inf'
  high = f'{domain.max}]' if domain.HasField('max') else 'inf)'
  return f'{low}, {high}'


def _is_missing(value) -> bool:
  if isinstance(value, (bytes, str)):
    return len(value) == 0
  if isinstance(value, (float, np.floating)):
    return math.isnan(value)
  if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
    return int(value) == -1
  return False
