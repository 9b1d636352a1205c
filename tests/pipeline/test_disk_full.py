"""A push onto a full disk: one line, no partial copy left behind, a truthful last_run.json.

The full disk is real: a small tmpfs mounted for the test (CI runs as root, as this
machine's sessions do).
"""
import contextlib
import json
import os
import subprocess
import sys

import pytest

from pipeline.components.atomic_pusher import publishing
from tests.conftest import REPO, sample_spans

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`


@contextlib.contextmanager
def _small_disk(path: str, size: str):
  os.makedirs(path, exist_ok=True)
  subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path], check=True)
  try:
    yield path
  finally:
    subprocess.run(['umount', '-l', path], check=False)


def test_publish_onto_a_full_disk_leaves_nothing_and_says_why(pushed_home, tmp_path):
  _, base, _, _ = pushed_home
  with _small_disk(str(tmp_path / 'full'), '64k') as disk:
    target = os.path.join(disk, 'taxi')
    with pytest.raises(publishing.PublishError) as raised:
      publishing.publish(os.path.join(base, '1'), target)
    message = str(raised.value)
    assert '\n' not in message and 'No space left on device' in message, message
    assert os.listdir(target) == []  # the partial .incoming copy was removed
    assert publishing.versions(target) == []


def test_a_run_whose_push_hits_a_full_disk_exits_1_and_last_run_tells_the_truth(tmp_path):
  data = sample_spans(str(tmp_path / 'data'), [(2, 2500), (3, 1500)])  # as pushed_home
  home = tmp_path / 'home'
  os.makedirs(home)
  stale = {'status': 'completed', 'pushed_version': '1'}  # an earlier run's outcome
  (home / 'last_run.json').write_text(json.dumps(stale))
  with _small_disk(str(home / 'serving'), '64k'):
    proc = subprocess.run(
        [sys.executable, '-m', 'ctpipe.cli', 'run', '--home', str(home), '--data-root', data,
         '--window', '2', '--epochs', '2', '--min-auc', '0.8',
         # two epochs leave the probabilities ~11 % low: the push must still be tried
         '--set', 'pipeline.thresholds.max_calibration_error=0.3'],
        capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert 'error:' not in proc.stdout  # errors go to stderr only
    assert len(errors) == 1 and 'No space left on device' in errors[0], proc.stderr
    assert not [n for n in os.listdir(home / 'serving' / 'taxi')
                if n.startswith(publishing.INCOMING_PREFIX)]
  record = json.loads((home / 'last_run.json').read_text())
  assert record['status'] == 'failed' and record['pushed_version'] is None
  assert 'No space left on device' in record['error']
