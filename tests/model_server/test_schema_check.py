"""Serving-time request checks against the curated schema (no model needed)."""
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ctpipe.model_server.schema_check import SchemaCheck
from ctpipe.model_server.served_model import RequestError
from tests.conftest import CONTRACT, CURATED_SCHEMA


@pytest.fixture(scope='module')
def check():
  with open(CURATED_SCHEMA, encoding='utf-8') as f:
    schema = text_format.Parse(f.read(), schema_pb2.Schema())
  return SchemaCheck(schema, CONTRACT.model_input_features)


def _columns(n=3, **overrides):
  columns = {
      'payment_type': np.array([b'Cash', b'Credit Card', b'Cash'][:n], dtype=object),
      'company': np.array([b'', b'Any company', b'x'][:n], dtype=object),
      'fare': np.array([5.0, 12.5, 7.25][:n], np.float32),
      'trip_miles': np.array([1.0, 3.5, 0.0][:n], np.float32),
      'trip_seconds': np.array([300, -1, 60][:n], np.int64),
      'trip_start_hour': np.array([0, 23, 12][:n], np.int64),
      'trip_start_day': np.array([1, 7, 3][:n], np.int64),
      'trip_start_month': np.array([1, 12, 6][:n], np.int64),
      'pickup_latitude': np.array([41.9, np.nan, 41.8][:n], np.float32),
  }
  columns.update(overrides)
  return columns


def _problems(check, columns):
  with pytest.raises(RequestError) as raised:
    check.check_columns(columns)
  return str(raised.value)


def test_valid_columns_with_missing_markers_pass(check):
  check.check_columns(_columns())  # "" / NaN / -1 in optional features are fine
  check.check_columns(_columns(n=1))


def test_every_problem_is_listed_with_its_feature(check):
  message = _problems(check, _columns(
      payment_type=np.array([b'Bitcoin', b'Cash', b''], dtype=object),
      trip_start_hour=np.array([30, 3, -5], np.int64),
      fare=np.array([5.0, np.nan, 1.0], np.float32),
      surprise=np.array([1, 2, 3])))
  assert "feature 'payment_type': ['Bitcoin'] not in its domain" in message
  assert "feature 'payment_type': required, missing in rows [2]" in message
  assert "feature 'trip_start_hour': [30, -5] outside [0, 23]" in message
  assert "feature 'fare': required, missing in rows [1]" in message
  assert "feature 'surprise': not in the schema" in message


def test_wrong_types_are_reported(check):
  assert "'fare': expected numbers" in _problems(
      check, _columns(fare=np.array([b'ten', b'x', b'y'], dtype=object)))
  assert "'trip_start_hour': expected integers" in _problems(
      check, _columns(trip_start_hour=np.array([1.5, 2.0, 3.0])))
  assert "'trip_start_day': expected numbers" in _problems(
      check, _columns(trip_start_day=np.array([True, False, True])))
  assert "'trip_start_month': expected numbers" in _problems(
      check, _columns(trip_start_month=np.array([1, 'x', 2.0], dtype=object)))


def test_numeric_values_for_a_string_feature_are_checked_against_its_domain(check):
  assert "'payment_type'" in _problems(check, _columns(payment_type=np.array([1, 2, 3])))


def test_whole_numbers_sent_as_floats_are_integers(check):
  check.check_columns(_columns(trip_start_hour=np.array([1.0, 2.0, 3.0])))
