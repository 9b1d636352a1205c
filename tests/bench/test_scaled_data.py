"""The benchmark's scaled data: same columns, same label behaviour, spans, deterministic."""
import csv
import os
import sys

from tests.conftest import EMBEDDED_DATA, REPO

sys.path.insert(0, os.path.join(REPO, 'bench'))

import scaled_data  # pylint: disable=g-import-not-at-top,wrong-import-position

EMBEDDED = EMBEDDED_DATA


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    return reader.fieldnames, list(reader)


def _big_tip_rate(rows):
  known = [r for r in rows if r['fare'] and r['tips']]
  return sum(float(r['tips']) > 0.2 * float(r['fare']) for r in known) / len(rows)


def test_scaled_spans_keep_columns_proportions_and_label_rate(tmp_path):
  written = scaled_data.generate(30_000, str(tmp_path / 'a'))
  assert sorted(written) == [1, 2, 3, 4] and abs(sum(written.values()) - 30_000) <= 2
  embedded_rows, generated_rows = [], []
  for span, count in written.items():
    header, rows = _rows(os.path.join(EMBEDDED, f'span-{span}', 'data.csv'))
    new_header, new_rows = _rows(str(tmp_path / 'a' / f'span-{span}' / 'data.csv'))
    assert new_header == header and len(new_rows) == count
    assert (tmp_path / 'a' / f'span-{span}' / '_SUCCESS').exists()
    assert os.path.samefile(tmp_path / 'a' / 'flat' / f'span-{span}.csv',
                            tmp_path / 'a' / f'span-{span}' / 'data.csv')
    # Twice the embedded span's share of rows, within rounding.
    assert abs(count / 30_000 - len(rows) / 15_002) < 0.001
    embedded_rows += rows
    generated_rows += new_rows
  assert abs(_big_tip_rate(generated_rows) - _big_tip_rate(embedded_rows)) < 0.01
  # Jittered: not copies of the embedded rows.
  embedded_fares = {r['fare'] for r in embedded_rows}
  assert sum(r['fare'] not in embedded_fares for r in generated_rows) > len(generated_rows) / 2
  # Missing values stay missing (empty cells), integer columns stay integers.
  assert any(r['pickup_community_area'] == '' for r in generated_rows)
  assert all(r['trip_seconds'] == '' or r['trip_seconds'].isdigit() for r in generated_rows)


def test_same_seed_same_bytes(tmp_path):
  scaled_data.generate(2_000, str(tmp_path / 'a'), seed=7)
  scaled_data.generate(2_000, str(tmp_path / 'b'), seed=7)
  scaled_data.generate(2_000, str(tmp_path / 'c'), seed=8)
  read = lambda root: (tmp_path / root / 'span-2' / 'data.csv').read_bytes()
  assert read('a') == read('b') != read('c')
