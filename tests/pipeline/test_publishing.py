"""Atomic publishing into TF Serving's layout."""
import os

import pytest

from pipeline.components.atomic_pusher import publishing


def _saved_model(path, payload=b'graph', fingerprint=b'fp1'):
  os.makedirs(os.path.join(path, 'variables'))
  with open(os.path.join(path, 'saved_model.pb'), 'wb') as f:
    f.write(payload)
  with open(os.path.join(path, 'fingerprint.pb'), 'wb') as f:
    f.write(fingerprint)
  with open(os.path.join(path, 'variables', 'variables.index'), 'wb') as f:
    f.write(b'index')
  return str(path)


def test_versions_count_up_and_hold_the_whole_model(tmp_path):
  model = _saved_model(tmp_path / 'm')
  base = str(tmp_path / 'serving' / 'taxi')
  assert publishing.publish(model, base) == os.path.join(base, '1')
  assert publishing.publish(model, base) == os.path.join(base, '2')
  assert publishing.versions(base) == [1, 2]
  assert os.path.exists(os.path.join(base, '2', 'variables', 'variables.index'))
  assert sorted(os.listdir(base)) == ['1', '2']  # no staging folder left behind


def test_leftovers_of_an_interrupted_publish_are_removed(tmp_path):
  model = _saved_model(tmp_path / 'm')
  base = tmp_path / 'serving' / 'taxi'
  os.makedirs(base / f'{publishing.INCOMING_PREFIX}7-123' / 'variables')
  publishing.publish(model, str(base))
  assert sorted(os.listdir(base)) == ['1']


def test_refuses_a_folder_without_saved_model(tmp_path):
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(FileNotFoundError, match='no saved_model.pb'):
    publishing.publish(str(tmp_path / 'empty'), str(tmp_path / 'serving'))


def test_existing_version_is_never_overwritten(tmp_path):
  model = _saved_model(tmp_path / 'm')
  base = str(tmp_path / 'serving')
  publishing.publish(model, base, version=5)
  with pytest.raises(FileExistsError):
    publishing.publish(model, base, version=5)


def test_already_published_compares_fingerprints(tmp_path):
  base = str(tmp_path / 'serving')
  first = _saved_model(tmp_path / 'a', fingerprint=b'A')
  second = _saved_model(tmp_path / 'b', fingerprint=b'B')
  assert publishing.already_published(first, base) is None
  publishing.publish(first, base)
  assert publishing.already_published(first, base) == 1
  assert publishing.already_published(second, base) is None
