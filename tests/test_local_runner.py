"""Runner logic that needs no pipeline run: the home lock and the span plan."""
import multiprocessing
import os

import pytest

from pipeline import local_runner


def _hold_lock(root, ready, release):
  with local_runner.locked(local_runner.Home(root)):
    ready.set()
    release.wait(30)


def test_second_run_on_the_same_home_fails_fast_with_the_holder(tmp_path):
  ctx = multiprocessing.get_context('fork')
  ready, release = ctx.Event(), ctx.Event()
  holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
  holder.start()
  try:
    assert ready.wait(30)
    with pytest.raises(local_runner.HomeBusyError, match=f'pid {holder.pid}'):
      with local_runner.locked(local_runner.Home(str(tmp_path))):
        pass
  finally:
    release.set()
    holder.join(30)
  with local_runner.locked(local_runner.Home(str(tmp_path))):  # free again
    assert os.path.exists(tmp_path / '.lock')


def test_plan_backfills_only_window_spans_never_ingested():
  plan = local_runner.plan_spans(available=[1, 2, 3, 4, 5], ingested=[3], validated=[3],
                                 window_spans=3)
  assert plan.window == [3, 4, 5] and plan.newest == 5 and plan.backfill == [4]


def test_plan_reports_rejected_spans_and_does_not_retry_them():
  plan = local_runner.plan_spans(available=[1, 2, 3], ingested=[1, 2], validated=[1],
                                 window_spans=3)
  assert plan.backfill == [] and plan.excluded == [2]


def test_beam_args_keep_tfx_from_repackaging_itself():
  choice = local_runner.choose_beam(local_runner.BeamMode.IN_MEMORY, 10, cores=2)
  args = local_runner.beam_args(choice)
  assert any(a.startswith('--sdk_container_image=') for a in args)
  assert '--direct_running_mode=in_memory' in args


def test_auto_beam_mode_follows_the_window_size():
  big = local_runner.MULTI_PROCESSING_FROM_BYTES
  small = local_runner.choose_beam(local_runner.BeamMode.AUTO, big - 1, cores=2)
  assert small.mode is local_runner.BeamMode.IN_MEMORY and small.workers == 1
  # ...but the Evaluator already runs on every core.
  assert local_runner.evaluator_beam_args(small) == [
      '--direct_running_mode=multi_processing', '--direct_num_workers=2']
  tiny = local_runner.choose_beam(local_runner.BeamMode.AUTO, 2 * 2**20, cores=2)
  assert tiny.evaluator_workers == 0 and local_runner.evaluator_beam_args(tiny) == []
  large = local_runner.choose_beam(local_runner.BeamMode.AUTO, big, cores=2)
  assert large.mode is local_runner.BeamMode.MULTI_PROCESSING and large.workers == 2
  assert '--direct_num_workers=2' in local_runner.beam_args(large)
  assert 'auto' in large.describe() and 'MiB' in large.describe()
  # One core: nothing to gain from more processes.
  assert local_runner.choose_beam(local_runner.BeamMode.AUTO, big * 10, cores=1).workers == 1


def test_configured_beam_mode_overrides_the_size():
  forced = local_runner.choose_beam(local_runner.BeamMode.IN_MEMORY, 10**12, cores=2)
  assert forced.mode is local_runner.BeamMode.IN_MEMORY and 'as configured' in forced.why
  assert local_runner.evaluator_beam_args(forced) == []
  forced = local_runner.choose_beam(local_runner.BeamMode.MULTI_PROCESSING, 1, cores=2)
  assert forced.mode is local_runner.BeamMode.MULTI_PROCESSING
