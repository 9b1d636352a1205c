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
