"""The edge model: the pushed SavedModel as TensorFlow Lite, feature transformation inside.

TFLite runs the `serving_raw` signature (one tensor per raw feature) on device, so
the Transform graph travels inside the `.tflite` file with the model, as it does in
the SavedModel. One obstacle: TFT's vocabulary lookups are hash tables filled from
text files (`InitializeTableFromTextFileV2`), and TFLite cannot read those files; its
tables stay empty ("hashtable need to be initialized"). So the export works on a copy
of the SavedModel in which every text-file initializer is replaced by an import of
the same keys and values as constants (`LookupTableImportV2`), which TFLite supports.
The file each initializer reads is found by following its filename argument back
through the function calls to the SavedModel's asset table, not by name.

The TFLite model uses a few TensorFlow ops beyond TFLite's builtins (string hashing
and parsing), so devices link the Flex delegate (`tensorflow-lite-select-tf-ops`).

`export` runs both models on the same evaluation examples; the export is only
published when every score agrees within `TOLERANCE`: a probability, each class's
probability, or a regression's value relative to its size (|Δ| / max(1, |value|)).
"""
import concurrent.futures
import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import function_pb2, node_def_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from models import outputs, signatures
from ctpipe.model_server.served_model import InputSpec, input_specs_of, read_signature_defs

EDGE_SIGNATURE = signatures.RAW_SIGNATURE
TFLITE_FILE = 'model.tflite'
SIGNATURE_FILE = 'signature.json'
# float32 through a different kernel library: agreement to 1e-4 on a probability (on a
# regression's value, relative to its size).
TOLERANCE = 1e-4
_CALL_OPS = ('StatefulPartitionedCall', 'PartitionedCall')
# TextFileIndex.WHOLE_LINE and LINE_NUMBER: TFT's vocabularies, one token per line.
_WHOLE_LINE, _LINE_NUMBER = -2, -1


class EdgeExportError(RuntimeError):
  """The SavedModel cannot be turned into a TFLite model with the same answers."""


@dataclasses.dataclass
class ParityReport:
  examples: int
  max_abs_diff: float
  class_disagreements: int
  tolerance: float

  @property
  def passed(self) -> bool:
    return self.examples > 0 and self.max_abs_diff <= self.tolerance


@dataclasses.dataclass
class EdgeExport:
  tflite_path: str
  size_bytes: int
  tables_inlined: int
  convert_seconds: float
  parity: ParityReport


# ---- inlining text-file tables -------------------------------------------------------------

class _Graph:
  """Lookups over one MetaGraph: nodes of the top graph and of every library function."""

  def __init__(self, meta_graph: meta_graph_pb2.MetaGraphDef):
    self.meta_graph = meta_graph
    self.functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    self.top = {n.name: n for n in meta_graph.graph_def.node}
    self.assets = {a.tensor_info.name.split(':')[0]: a.filename
                   for a in meta_graph.asset_file_def}

  def _nodes(self, scope: Optional[str]) -> Dict[str, node_def_pb2.NodeDef]:
    if scope is None:
      return self.top
    return {n.name: n for n in self.functions[scope].node_def}

  def _callers(self, function_name: str):
    for node in self.meta_graph.graph_def.node:
      if node.op in _CALL_OPS and node.attr['f'].func.name == function_name:
        yield None, node
    for name, function in self.functions.items():
      for node in function.node_def:
        if node.op in _CALL_OPS and node.attr['f'].func.name == function_name:
          yield name, node

  def asset_of(self, scope: Optional[str], ref: str, depth: int = 0) -> Optional[str]:
    """The asset file name a string tensor `ref` in `scope` carries, if it is one."""
    if depth > 64:
      return None
    ref = ref.lstrip('^')
    if scope is not None and ':' not in ref:  # an argument of function `scope`
      args = [a.name for a in self.functions[scope].signature.input_arg]
      index = args.index(ref)
      for caller_scope, caller in self._callers(scope):
        data_inputs = [i for i in caller.input if not i.startswith('^')]
        found = self.asset_of(caller_scope, data_inputs[index], depth + 1)
        if found:
          return found
      return None
    nodes = self._nodes(scope)
    node = nodes.get(ref.split(':')[0])
    if node is None:
      return None
    if scope is None and node.name in self.assets:
      return self.assets[node.name]
    if node.op == 'Const' and node.attr['dtype'].type == types_pb2.DT_STRING:
      values = node.attr['value'].tensor.string_val
      return os.path.basename(values[0].decode()) if len(values) == 1 else None
    if node.op in ('Identity', 'ReadVariableOp'):
      if node.op == 'ReadVariableOp':  # the value last assigned to the variable
        for other in nodes.values():
          if other.op == 'AssignVariableOp' and other.input[0] == node.input[0]:
            return self.asset_of(scope, other.input[1], depth + 1)
        return None
      return self.asset_of(scope, node.input[0], depth + 1)
    return None


def _read_vocabulary(path: str) -> List[bytes]:
  with tf.io.gfile.GFile(path, 'rb') as f:
    lines = f.read().split(b'\n')
  if lines and lines[-1] == b'':
    lines.pop()
  return lines


def _const(name: str, values: np.ndarray, dtype) -> node_def_pb2.NodeDef:
  node = node_def_pb2.NodeDef(name=name, op='Const')
  node.attr['dtype'].type = dtype.as_datatype_enum
  node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
  return node


def _add_import(function: function_pb2.FunctionDef, table_node: node_def_pb2.NodeDef,
                keys: Sequence[bytes]) -> str:
  """Adds `keys` -> line numbers imported into `table_node`'s table; returns the import's name."""
  name = f'{table_node.name}/inlined_import'
  keys_node = _const(f'{name}/keys', np.array(keys, dtype=object), tf.string)
  values_node = _const(f'{name}/values', np.arange(len(keys), dtype=np.int64), tf.int64)
  node = node_def_pb2.NodeDef(name=name, op='LookupTableImportV2')
  node.input.extend([f'{table_node.name}:table_handle:0', f'{keys_node.name}:output:0',
                     f'{values_node.name}:output:0'])
  node.attr['Tin'].type = types_pb2.DT_STRING
  node.attr['Tout'].type = types_pb2.DT_INT64
  function.node_def.extend([keys_node, values_node, node])
  return name


def _vocabularies(graph: _Graph, model_dir: str) -> Dict[bytes, List[bytes]]:
  """Keys of every table filled from a text file, by the table's shared name."""
  found: Dict[bytes, List[bytes]] = {}
  for function in graph.functions.values():
    nodes = {n.name: n for n in function.node_def}
    for node in function.node_def:
      if node.op != 'InitializeTableFromTextFileV2':
        continue
      key_index, value_index = (node.attr.get('key_index'), node.attr.get('value_index'))
      key_index = key_index.i if key_index is not None else None
      value_index = value_index.i if value_index is not None else None
      if (key_index, value_index) != (_WHOLE_LINE, _LINE_NUMBER):
        raise EdgeExportError(
            f'table {node.name}: only whole-line keys with line-number values can be '
            f'inlined (key_index {key_index}, value_index {value_index})')
      table = nodes.get(node.input[0].split(':')[0])
      if table is None or table.op != 'HashTableV2' or 'shared_name' not in table.attr:
        raise EdgeExportError(f'table {node.name}: not a shared HashTableV2')
      asset = graph.asset_of(function.signature.name, node.input[1])
      if asset is None:
        raise EdgeExportError(f'table {node.name}: cannot tell which asset file it reads')
      keys = _read_vocabulary(os.path.join(model_dir, 'assets', asset))
      # Read attributes with .get: indexing a missing one would add an empty value.
      vocab_size = node.attr.get('vocab_size')
      if vocab_size is not None and vocab_size.i > 0:
        keys = keys[:vocab_size.i]
      found[table.attr['shared_name'].s] = keys
  return found


def inline_text_file_tables(model_dir: str) -> int:
  """Rewrites the SavedModel in `model_dir` so its tables need no file; returns how many.

  TFT's tables are created by shared name in every function that reads them and
  filled once by the SavedModel's initializer. TFLite does not share them that way,
  so each function that reads a table now imports the vocabulary itself before its
  lookups (TFLite's import leaves an already filled table as it is).
  """
  path = os.path.join(model_dir, 'saved_model.pb')
  saved = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved.ParseFromString(f.read())
  inlined = set()
  for meta_graph in saved.meta_graphs:
    vocabularies = _vocabularies(_Graph(meta_graph), model_dir)
    for function in meta_graph.graph_def.library.function:
      tables = [n for n in function.node_def
                if n.op == 'HashTableV2' and 'shared_name' in n.attr
                and n.attr['shared_name'].s in vocabularies]
      for table in tables:
        handle = f'{table.name}:table_handle:0'
        readers = [n for n in function.node_def
                   if n.op in ('LookupTableFindV2', 'LookupTableSizeV2') and n.input[0] == handle]
        if not readers:
          continue
        name = _add_import(function, table, vocabularies[table.attr['shared_name'].s])
        for reader in readers:
          reader.input.append(f'^{name}')
        inlined.add(table.attr['shared_name'].s)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(saved.SerializeToString())
  return len(inlined)


# ---- conversion and parity -----------------------------------------------------------------

def convert(model_dir: str, tflite_path: str) -> Tuple[int, float]:
  """Writes `serving_raw` of the SavedModel as TFLite; returns (tables inlined, seconds)."""
  started = time.monotonic()
  with tempfile.TemporaryDirectory(prefix='ctpipe-edge-') as scratch:
    copy = os.path.join(scratch, 'model')
    shutil.copytree(model_dir, copy)
    inlined = inline_text_file_tables(copy)
    converter = tf.lite.TFLiteConverter.from_saved_model(copy, signature_keys=[EDGE_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    try:
      content = converter.convert()
    except Exception as error:  # the converter raises several unrelated types
      raise EdgeExportError(f'TFLite conversion failed: {error}') from error
  os.makedirs(os.path.dirname(os.path.abspath(tflite_path)), exist_ok=True)
  with tf.io.gfile.GFile(tflite_path, 'wb') as f:
    f.write(content)
  return inlined, time.monotonic() - started


def _numpy_columns(specs: Sequence[InputSpec], examples: Sequence[bytes]
                   ) -> Dict[str, np.ndarray]:
  from pipeline.components.serving_check.check import raw_columns  # pylint: disable=g-import-not-at-top
  columns = raw_columns(specs, examples)
  out = {}
  for spec in specs:
    dtype = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
    values = columns[spec.name]
    out[spec.name] = np.array([v.encode() if isinstance(v, str) else v for v in values],
                              dtype=dtype)
  return out


def predict_tflite(tflite_path: str, columns: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """Runs the edge model's signature on numpy columns, as a device would."""
  interpreter = tf.lite.Interpreter(model_path=tflite_path)
  runner = interpreter.get_signature_runner(EDGE_SIGNATURE)
  return runner(**columns)


def saved_model_outputs(model_dir: str, columns: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """The SavedModel's own `serving_raw` answers on numpy columns: parity's reference."""
  served = tf.saved_model.load(model_dir).signatures[EDGE_SIGNATURE](
      **{name: tf.constant(values) for name, values in columns.items()})
  return {name: value.numpy() for name, value in served.items()}


def compare(edge: Dict[str, np.ndarray], served: Dict[str, np.ndarray],
            tolerance: float = TOLERANCE) -> ParityReport:
  """Largest score difference and class flips between the two models' answers.

  Scores: the probability (binary), every class's probability (multiclass), or the value
  relative to its size (regression)."""
  task = outputs.task_of(list(served))
  label_key = outputs.class_key(list(served))
  key = outputs.score_key(task, label_key)
  edge_s = np.asarray(edge[key], np.float64)
  served_s = np.asarray(served[key], np.float64)
  if edge_s.shape != served_s.shape:
    raise EdgeExportError(f'edge model returned {key} of shape {edge_s.shape} for '
                          f'{served_s.shape} from the SavedModel')
  examples = served_s.shape[0] if served_s.ndim else 0
  gaps = np.abs(edge_s - served_s)
  if task == outputs.REGRESSION:
    gaps = gaps / np.maximum(1.0, np.abs(served_s))
    flips = 0
  else:
    flips = int(np.sum(np.asarray(edge[label_key]).reshape(-1)
                       != np.asarray(served[label_key]).reshape(-1)))
  diff = float(np.max(gaps)) if examples else float('inf')
  return ParityReport(examples, diff, flips, tolerance)


def export(model_dir: str, dest_dir: str, examples: Sequence[bytes],
           tolerance: float = TOLERANCE) -> EdgeExport:
  """Converts, checks parity on `examples`, and writes the edge model into `dest_dir`.

  Raises EdgeExportError, leaving `dest_dir` untouched, when the models disagree.
  The SavedModel's answers are computed on a second thread while the converter runs:
  both spend much of their time in TensorFlow's C++ code, outside the GIL.
  """
  specs = input_specs_of(read_signature_defs(model_dir)[EDGE_SIGNATURE])
  columns = _numpy_columns(specs, examples)
  with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='parity') as pool, \
      tempfile.TemporaryDirectory(prefix='ctpipe-edge-out-') as scratch:
    reference = pool.submit(saved_model_outputs, model_dir, columns)
    candidate = os.path.join(scratch, TFLITE_FILE)
    inlined, seconds = convert(model_dir, candidate)
    parity = compare(predict_tflite(candidate, columns), reference.result(), tolerance)
    if not parity.passed:
      raise EdgeExportError(
          f'edge model disagrees with the SavedModel on {parity.examples} examples: '
          f'max |Δ| {parity.max_abs_diff:.3g} > {tolerance:g}, '
          f'{parity.class_disagreements} class flips')
    os.makedirs(dest_dir, exist_ok=True)
    target = os.path.join(dest_dir, TFLITE_FILE)
    shutil.copyfile(candidate, target)
  with open(os.path.join(dest_dir, SIGNATURE_FILE), 'w', encoding='utf-8') as f:
    json.dump({'signature': EDGE_SIGNATURE,
               'inputs': {s.name: s.dtype.name for s in specs},
               'missing_value': {'string': '', 'float': 'NaN', 'int': -1},
               'outputs': sorted(reference.result()),
               'requires': 'TFLite with the Flex delegate (select TF ops)',
               'parity': dataclasses.asdict(parity)}, f, indent=2)
  return EdgeExport(target, os.path.getsize(target), inlined, seconds, parity)
