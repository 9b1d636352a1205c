"""ctpipe.import_gc: collection paused inside the block, everything alive frozen after."""
import gc

import pytest

from ctpipe import import_gc


@pytest.fixture
def thawed():
  yield
  gc.unfreeze()  # the rest of the test session collects as before
  gc.enable()


def test_block_pauses_collection_then_freezes_what_is_alive(thawed):
  gc.enable()
  before = gc.get_freeze_count()
  with import_gc.frozen():
    assert not gc.isenabled()
    kept = [[] for _ in range(1000)]  # long-lived containers, as imports create
  assert gc.isenabled()
  assert gc.get_freeze_count() >= before + len(kept)
  # Garbage made afterwards is still collected.
  cycle = []
  cycle.append(cycle)
  del cycle
  assert gc.collect() >= 1


def test_an_error_inside_still_restores_collection(thawed):
  gc.enable()
  with pytest.raises(ImportError):
    with import_gc.frozen():
      raise ImportError('no such module')
  assert gc.isenabled()


def test_collection_left_disabled_stays_disabled(thawed):
  gc.disable()
  with import_gc.frozen():
    pass
  assert not gc.isenabled()
