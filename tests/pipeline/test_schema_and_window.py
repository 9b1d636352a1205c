"""Schema review proposals, the curated schema's agreement with the features, the window."""
import pytest
from tfx.types import standard_artifacts

from tests.conftest import CONTRACT
from pipeline.components.schema_review import proposals as schema_review
from pipeline.resolvers import span_window


def _schema(text):
  return schema_review.read_schema_text(text)


CURATED = '''
feature { name: "fare" type: FLOAT presence { min_count: 1 } }
feature { name: "payment_type" type: BYTES domain: "payment_type" presence { min_count: 1 } }
string_domain { name: "payment_type" value: "Cash" value: "Credit Card" }
'''


def test_no_proposal_when_the_data_matches():
  assert schema_review.proposed_changes(_schema(CURATED), _schema(CURATED)) == []


def test_proposals_name_the_feature_and_the_change():
  inferred = _schema('''
feature { name: "fare" type: BYTES presence { min_count: 1 } }
feature { name: "payment_type" type: BYTES domain: "payment_type" presence { min_count: 1 } }
feature { name: "tolls" type: FLOAT presence { min_count: 1 } }
string_domain { name: "payment_type" value: "Cash" value: "Mobile" }
''')
  changes = schema_review.proposed_changes(_schema(CURATED), inferred)
  assert any("new feature 'tolls'" in c for c in changes)
  assert any("'fare': type FLOAT in the curated schema, BYTES inferred" in c for c in changes)
  assert any("'payment_type': values not in the curated domain: 'Mobile'" in c for c in changes)


def test_curated_schema_ranges_match_the_model_features(curated_schema_path):
  with open(curated_schema_path) as f:
    schema = schema_review.read_schema_text(f.read())
  by_name = {f.name: f for f in schema.feature}
  for name, (low, high) in CONTRACT.ranged_features.items():
    assert (by_name[name].int_domain.min, by_name[name].int_domain.max) == (low, high), name
  for name in CONTRACT.model_input_features + CONTRACT.label_sources:
    assert name in by_name, name
  assert 'SERVING' in list(by_name['tips'].not_in_environment)


def _examples(span, artifact_id):
  artifact = standard_artifacts.Examples()
  artifact.id = artifact_id
  artifact.set_int_custom_property('span', span)
  return artifact


def test_window_keeps_the_newest_artifact_of_exactly_the_planned_spans():
  artifacts = [_examples(1, 1), _examples(2, 2), _examples(3, 3), _examples(2, 9)]
  window = span_window.window_artifacts(artifacts, [3, 2])
  assert [(span_window.span_of(a), a.id) for a in window] == [(2, 9), (3, 3)]
  # A span the gate stopped (no validated artifact) is not replaced by an older one.
  assert [a.id for a in span_window.window_artifacts(artifacts, [1, 4])] == [1]


def test_window_needs_spans():
  with pytest.raises(ValueError, match='names no span'):
    span_window.window_artifacts([], [])
