"""Shared fixtures: small span folders cut from the embedded data, and a curated schema path."""
import csv
import dataclasses
import os
import random

import pytest

from ctpipe import config as config_lib
from models import features

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, 'config', 'ctpipe.yaml')
# The project's configuration as every command reads it (the taxi data set's definition).
PROJECT = config_lib.load(CONFIG, sections=('dataset', 'pipeline', 'local'))
SETTINGS = PROJECT.pipeline
# The taxi data set's feature contract, as Transform and the Trainer receive it.
CONTRACT = features.FeatureContract.of(PROJECT.dataset)
EMBEDDED_DATA = os.path.join(REPO, PROJECT.data_root())
CURATED_SCHEMA = os.path.join(REPO, PROJECT.local.schema)
# The ML Metadata store of one run of TFX's own taxi example (inspect reads any TFX store).
TFX_EXAMPLE_STORE = os.path.join(REPO, 'tests', 'data', 'tfx_taxi_example.mlmd.sqlite')


def read_span(number: int):
  with open(os.path.join(EMBEDDED_DATA, f'span-{number}', 'data.csv'), newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    return header, list(reader)


def write_span(root: str, number: int, header, rows) -> str:
  span_dir = os.path.join(root, f'span-{number}')
  os.makedirs(span_dir, exist_ok=True)
  path = os.path.join(span_dir, 'data.csv')
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
  return path


def sample_spans(root: str, spans_and_sizes, seed: int = 7) -> str:
  """Copies a seeded sample of rows of embedded spans into `root` as span-1, span-2, ..."""
  rng = random.Random(seed)
  for new_number, (source, size) in enumerate(spans_and_sizes, start=1):
    header, rows = read_span(source)
    write_span(root, new_number, header, rng.sample(rows, min(size, len(rows))))
  return root


def _feature(value: str):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for kind in (int, float):
    try:
      number = kind(value)
    except ValueError:
      continue
    if kind is int:
      return tf.train.Feature(int64_list=tf.train.Int64List(value=[number]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[number]))
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))


def write_examples(root: str, train_rows: int = 1500, eval_rows: int = 600):
  """Span 2 of the embedded data as an Examples artifact: train and eval splits, gzipped,
  each CSV cell as TFX's CSV ingestion types it (int, float or bytes; empty cells absent)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils, standard_artifacts  # pylint: disable=g-import-not-at-top
  header, rows = read_span(2)
  artifact = standard_artifacts.Examples()
  artifact.uri = os.path.join(root, 'examples')
  artifact.split_names = artifact_utils.encode_split_names(['train', 'eval'])
  artifact.span = 2
  for split, part in (('train', rows[:train_rows]),
                      ('eval', rows[train_rows:train_rows + eval_rows])):
    directory = os.path.join(artifact.uri, f'Split-{split}')
    os.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(directory, 'data.gz'), 'GZIP') as writer:
      for row in part:
        example = tf.train.Example(features=tf.train.Features(feature={
            name: _feature(value) for name, value in zip(header, row) if value != ''}))
        writer.write(example.SerializeToString())
  return artifact


@pytest.fixture(scope='session')
def curated_schema_path() -> str:
  return CURATED_SCHEMA


@pytest.fixture(scope='session')
def pushed_home(tmp_path_factory):
  """One real pipeline run on a two-span sample, shared by the tests that need a pushed
  model (run once per session, ~70 s). Returns (home, model base, data root, first run).

  The end-to-end tests continue from this home (re-runs, a broken span); the serving
  tests copy the model base before changing anything in it.
  """
  from ctpipe.home import Home  # pylint: disable=g-import-not-at-top
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('pushed')
  data = sample_spans(str(root / 'data'), [(2, 2500), (3, 1500)])
  home = Home(str(root / 'home'))
  result = local_runner.LocalRun(home, data, CURATED_SCHEMA, SAMPLE_SETTINGS()).run()
  assert result.status == 'completed'
  base = os.path.join(home.serving_base, SAMPLE_SETTINGS().model_name)
  assert os.path.isdir(os.path.join(base, '1')), 'the sample run pushed nothing'
  return home, base, data, result


@pytest.fixture(scope='module')
def mariadb_server(tmp_path_factory):
  """A real MariaDB on loopback, one per test module that asks (tests/mariadb.py)."""
  from tests import mariadb  # pylint: disable=g-import-not-at-top
  reason = mariadb.binaries()
  if reason:
    pytest.skip(reason)  # only where the server cannot be installed (make test installs it)
  with mariadb.MariaDB(str(tmp_path_factory.mktemp('mariadb'))) as db:
    yield db


def SAMPLE_SETTINGS():  # pylint: disable=invalid-name
  """Settings of the shared sample run: small window, short training, a lower AUC bar and
  no calibration bar (a model of 1,000 rows trained for a few epochs answers probabilities
  30 % low: 0.68 measured)."""
  # The sample is small; the real quality bar is measured by bench/, not here.
  settings = SETTINGS.replace(window_spans=2, epochs=2, min_auc=0.80)
  return dataclasses.replace(settings, thresholds=dataclasses.replace(
      settings.thresholds, max_calibration_error=1.0))


# Shared homes (and the evaluator comparison's runs) are built once per worker process:
# every test that uses one runs on the same worker (`pytest -n 2 --dist loadgroup`, see
# pyproject.toml), the others anywhere.
_SHARED_HOMES = ('pushed_home', 'replayed', 'evaluator_runs', 'breast_cancer', 'penguins',
                 'diabetes')


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  for item in items:
    for name in _SHARED_HOMES:
      if name in item.fixturenames:
        item.add_marker(pytest.mark.xdist_group(name))
        break


# Tests on a shared pipeline home or a real MariaDB are slow whatever their module.
_SLOW_FIXTURES = _SHARED_HOMES + ('mariadb_server',)


@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item):
  if any(name in item.fixturenames for name in _SLOW_FIXTURES):
    item.add_marker(pytest.mark.slow)


def without_auto_tuning(config_path) -> None:
  """Turns `tuning.auto` off in a config `ctpipe init` wrote: tests of other features train
  with the written hyperparameters instead of searching first (tests/datasets/
  test_any_dataset.py's breast-cancer home is the one that searches)."""
  with open(config_path, encoding='utf-8') as f:
    text = f.read()
  assert '\n  auto: true\n' in text, 'init wrote no tuning.auto'
  with open(config_path, 'w', encoding='utf-8') as f:
    f.write(text.replace('\n  auto: true\n', '\n  auto: false\n', 1))
