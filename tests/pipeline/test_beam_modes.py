"""The Beam mode of a local run: chosen from the window's size, or as configured."""
from pipeline import beam_modes


def test_beam_args_keep_tfx_from_repackaging_itself():
  choice = beam_modes.choose_beam(beam_modes.BeamMode.IN_MEMORY, 10, cores=2)
  args = beam_modes.beam_args(choice)
  assert any(a.startswith('--sdk_container_image=') for a in args)
  assert '--direct_running_mode=in_memory' in args


def test_auto_beam_mode_follows_the_window_size():
  big = beam_modes.MULTI_PROCESSING_FROM_BYTES
  small = beam_modes.choose_beam(beam_modes.BeamMode.AUTO, big - 1, cores=2)
  assert small.mode is beam_modes.BeamMode.IN_MEMORY and small.workers == 1
  large = beam_modes.choose_beam(beam_modes.BeamMode.AUTO, big, cores=2)
  assert large.mode is beam_modes.BeamMode.MULTI_PROCESSING and large.workers == 2
  assert '--direct_num_workers=2' in beam_modes.beam_args(large)
  assert 'auto' in large.describe() and 'MiB' in large.describe()
  # One core: nothing to gain from more processes.
  assert beam_modes.choose_beam(beam_modes.BeamMode.AUTO, big * 10, cores=1).workers == 1


def test_configured_beam_mode_overrides_the_size():
  forced = beam_modes.choose_beam(beam_modes.BeamMode.IN_MEMORY, 10**12, cores=2)
  assert forced.mode is beam_modes.BeamMode.IN_MEMORY and 'as configured' in forced.why
  forced = beam_modes.choose_beam(beam_modes.BeamMode.MULTI_PROCESSING, 1, cores=2)
  assert forced.mode is beam_modes.BeamMode.MULTI_PROCESSING
