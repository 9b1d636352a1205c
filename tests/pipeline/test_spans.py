"""Span layout: splitting by period, listing, and the errors a person sees."""
import json
import os

import pytest

from pipeline import spans
from tests.conftest import EMBEDDED_DATA

HEADER = ['trip_start_timestamp', 'fare']
ROWS = [['1357000000', '5'],   # 2013-01-01
        ['1420000000', '6'],   # 2014-12-31
        ['1420200000', '7'],   # 2015-01-02
        ['1357100000', '8']]   # 2013-01-02


def test_split_by_year_numbers_spans_in_time_order(tmp_path):
  index = spans.split_rows_into_spans(HEADER, ROWS, str(tmp_path), 'year', HEADER[0])
  assert index == {1: {'period': '2013', 'rows': 2}, 2: {'period': '2014', 'rows': 1},
                   3: {'period': '2015', 'rows': 1}}
  assert [s.number for s in spans.list_spans(str(tmp_path))] == [1, 2, 3]
  with open(tmp_path / 'spans.json') as f:
    assert json.load(f)['1']['rows'] == 2


def test_split_by_quarter():
  assert spans.period_of(1420200000, 'quarter') == '2015Q1'
  with pytest.raises(ValueError, match='unknown period'):
    spans.period_of(0, 'week')


def test_missing_data_folder_says_what_to_do(tmp_path):
  with pytest.raises(spans.SpanLayoutError, match='does not exist; pass --data-root'):
    spans.list_spans(str(tmp_path / 'nope'))


def test_folder_without_spans(tmp_path):
  with pytest.raises(spans.SpanLayoutError, match='no span-<N>/ folders'):
    spans.list_spans(str(tmp_path))


def test_empty_span_and_header_only_csv(tmp_path):
  os.makedirs(tmp_path / 'span-1')
  [span] = spans.list_spans(str(tmp_path))  # listed; rejected when its turn comes
  with pytest.raises(spans.SpanLayoutError, match='span 1 .* holds no .csv file'):
    spans.check_span_readable(span)
  (tmp_path / 'span-1' / 'data.csv').write_text('a,b\n')
  [span] = spans.list_spans(str(tmp_path))
  with pytest.raises(spans.SpanLayoutError, match='header but no rows'):
    spans.check_span_readable(span)
  (tmp_path / 'span-1' / 'data.csv').write_text('')
  with pytest.raises(spans.SpanLayoutError, match='is empty'):
    spans.check_span_readable(span)


def test_embedded_data_is_split_by_year():
  root = EMBEDDED_DATA
  listed = spans.list_spans(root)
  assert [s.number for s in listed] == [1, 2, 3, 4]
  with open(os.path.join(root, 'spans.json')) as f:
    index = json.load(f)
  assert sum(v['rows'] for v in index.values()) == 15002
