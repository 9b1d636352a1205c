"""A damaged or empty SQLite metadata store on `ctpipe run`: one line that says what to do,
or (empty file) a new store, never raw SQL or a read-only error."""
import pytest
import os
import subprocess
import sys

from ctpipe.home import Home
from pipeline import local_runner
from tests.conftest import SETTINGS
from tests.conftest import CURATED_SCHEMA, REPO, sample_spans

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`


def _run(home: str, data: str):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', 'run', '--home', home,
                         '--data-root', data], capture_output=True, text=True, timeout=600,
                        cwd=REPO, check=False)


def test_a_garbage_or_truncated_store_is_one_line_naming_it(tmp_path, pushed_home):
  data = sample_spans(str(tmp_path / 'data'), [(2, 100)])
  good_home, _, _, _ = pushed_home
  with open(good_home.metadata_path, 'rb') as f:
    good = f.read()
  for name, content in (('garbage', b'not a database at all' * 100),
                        ('truncated', good[:len(good) // 3])):
    home = tmp_path / name
    os.makedirs(home)
    (home / 'metadata.db').write_bytes(content)
    proc = _run(str(home), data)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert 'error:' not in proc.stdout  # errors go to stderr only
    assert len(errors) == 1 and 'is damaged' in errors[0] and 'metadata.db' in errors[0], \
        proc.stderr
    assert 'CREATE TABLE' not in proc.stdout + proc.stderr


def test_a_zero_byte_store_is_a_new_store(tmp_path):
  data = sample_spans(str(tmp_path / 'data'), [(2, 100)])
  home = Home(str(tmp_path / 'home'))
  os.makedirs(home.root)
  open(home.metadata_path, 'wb').close()
  result = local_runner.LocalRun(home, data, CURATED_SCHEMA,
                                 SETTINGS).run(ingest_only=True)
  assert result.status == 'ingested'
  assert os.path.getsize(home.metadata_path) > 0
