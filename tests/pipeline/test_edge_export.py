"""The edge (TFLite) model the pipeline publishes answers like the served SavedModel."""
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from models import signatures
from pipeline.components.edge_export import tflite as edge_export
from pipeline.components.edge_export import edge_dir
from tests.conftest import CONTRACT, SAMPLE_SETTINGS, read_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

TOLERANCE = 1e-5  # stated in the README; measured max |Δp| is ~1e-7


def _edge_base(home):
  return os.path.join(home.serving_base, f'{SAMPLE_SETTINGS().model_name}.edge')


def _columns(specs, rows):
  """serving_raw numpy inputs from CSV rows; an empty cell becomes the missing marker."""
  out = {}
  for name, spec in specs.items():
    values = [r.get(name, '') for r in rows]
    if spec.dtype == tf.string:
      out[name] = np.array([v.encode() for v in values], dtype=object)
    elif spec.dtype.is_floating:
      out[name] = np.array([float(v) if v else np.nan for v in values], np.float32)
    else:
      out[name] = np.array([int(float(v)) if v else -1 for v in values], np.int64)
  return out


def test_pipeline_published_an_edge_model_that_matches_the_saved_model(pushed_home, tmp_path):
  home, base, _, _ = pushed_home
  published = edge_dir(_edge_base(home), '1')
  with open(os.path.join(published, edge_export.SIGNATURE_FILE), encoding='utf-8') as f:
    described = json.load(f)
  assert described['parity']['examples'] > 100
  assert described['parity']['max_abs_diff'] <= TOLERANCE
  # ML Metadata holds the same figure (as text: its SQLite store rounds doubles to 6 places).
  from ctpipe.metadata import reader as metadata  # pylint: disable=g-import-not-at-top
  from pipeline import definition  # pylint: disable=g-import-not-at-top
  recorded = metadata.MetadataReader.open_sqlite(
      home.metadata_path, SAMPLE_SETTINGS().pipeline_name).node_outputs(definition.EDGE_EXPORT)
  stored = float(recorded[0].custom_properties['max_abs_diff'])
  assert math.isclose(stored, described['parity']['max_abs_diff'], rel_tol=1e-2, abs_tol=1e-12)
  # A device has the .tflite file and nothing else: no vocabulary files, no SavedModel.
  device_copy = str(tmp_path / edge_export.TFLITE_FILE)
  shutil.copyfile(os.path.join(published, edge_export.TFLITE_FILE), device_copy)
  with open(device_copy, 'rb') as f:
    content = f.read()
  # Vocabularies are constants inside it: no op that reads a file (even via Flex).
  assert b'InitializeTableFromTextFile' not in content and b'ReadFile' not in content
  assert b'Credit Card' in content

  model = tf.saved_model.load(os.path.join(base, '1'))
  specs = model.signatures[signatures.RAW_SIGNATURE].structured_input_signature[1]
  header, rows = read_span(4)  # data neither model was trained or checked on
  rows = [dict(zip(header, r)) for r in rows[:400]]
  # Hostile but valid inputs: unseen categories, every value missing, extreme amounts.
  rows.append({name: '' for name in specs})
  rows.append(dict(rows[0], company='A company never seen', payment_type='Prcard'))
  rows.append(dict(rows[1], fare='99999', trip_miles='0', trip_seconds='1'))
  columns = _columns(specs, rows)

  edge = edge_export.predict_tflite(device_copy, columns)
  served = model.signatures[signatures.RAW_SIGNATURE](
      **{name: tf.constant(v) for name, v in columns.items()})
  np.testing.assert_allclose(edge[signatures.PROBABILITY_KEY].reshape(-1),
                             served[signatures.PROBABILITY_KEY].numpy(), atol=TOLERANCE)
  np.testing.assert_array_equal(edge[CONTRACT.label].reshape(-1),
                                served[CONTRACT.label].numpy())
  # The vocabulary lookups really ran on the device model: different payment types
  # give different answers for the same trip.
  probe = {name: np.repeat(v[:1], 2) for name, v in columns.items()}
  probe['payment_type'] = np.array([b'Cash', b'Credit Card'], dtype=object)
  p = edge_export.predict_tflite(device_copy, probe)[signatures.PROBABILITY_KEY].reshape(-1)
  assert abs(p[0] - p[1]) > 0.05


def test_unsupported_table_is_refused_in_one_sentence(tmp_path):
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text('a\tx\nb\ty\n')

  class Module(tf.Module):
    def __init__(self):
      # Keys from the first column, not whole lines: not what TFT writes.
      self.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
          str(vocab), tf.string, 0, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
          delimiter='\t'), -1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, x):
      return self.table.lookup(x)

  module = Module()
  tf.saved_model.save(module, str(tmp_path / 'm'))
  with pytest.raises(edge_export.EdgeExportError, match='whole-line keys'):
    edge_export.inline_text_file_tables(str(tmp_path / 'm'))
