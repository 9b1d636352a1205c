"""Shared fixtures: small span folders cut from the embedded data, and a curated schema path."""
import csv
import os
import random

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED_DATA = os.path.join(REPO, 'data', 'taxi')
CURATED_SCHEMA = os.path.join(REPO, 'schema', 'schema.pbtxt')


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


@pytest.fixture(scope='session')
def curated_schema_path() -> str:
  return CURATED_SCHEMA


@pytest.fixture(scope='session')
def pushed_home(tmp_path_factory):
  """A home where a real pipeline run on a small sample pushed version 1 (~60 s, once)."""
  from pipeline import config, local_runner  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('pushed')
  data = sample_spans(str(root / 'data'), [(3, 2500)])
  home = local_runner.Home(str(root / 'home'))
  settings = config.replace_settings(config.PipelineSettings(), window_spans=1, epochs=3,
                                     min_auc=0.5)
  result = local_runner.LocalRun(home, data, CURATED_SCHEMA, settings).run()
  assert result.status == 'completed'
  base = os.path.join(home.serving_base, settings.model_name)
  assert os.path.isdir(os.path.join(base, '1')), 'the sample run pushed nothing'
  return home, base, data
