"""The command line as a person meets it: help on every option, -h, --version, and only
choices that work."""
import click
from click.testing import CliRunner

from ctpipe import cli


def _commands(group=cli.main, path=()):
  for name, command in sorted(group.commands.items()):
    if isinstance(command, click.Group):
      yield from _commands(command, path + (name,))
    else:
      yield path + (name,), command


def test_every_option_of_every_command_says_what_it_does():
  missing = [f'{" ".join(path)} {option.opts[0]}' for path, command in _commands()
             for option in command.params
             if isinstance(option, click.Option) and not option.help]
  assert not missing, missing


def test_version_and_short_help():
  runner = CliRunner()
  version = runner.invoke(cli.main, ['--version'])
  assert version.exit_code == 0 and version.output.startswith('ctpipe 0.'), version.output
  for path, _ in _commands():
    shown = runner.invoke(cli.main, [*path, '-h'])
    assert shown.exit_code == 0 and 'Usage: ' in shown.output, (path, shown.output)


def test_compile_offers_no_target_it_would_refuse():
  shown = CliRunner().invoke(cli.main, ['compile', '-h'])
  assert '--target' not in shown.output and '--output' in shown.output


def test_watch_and_replay_say_a_repeated_phase_once_until_it_changes(capsys):
  from ctpipe.commands import continuous  # pylint: disable=g-import-not-at-top
  say = continuous._phases_once()  # pylint: disable=protected-access
  for text in ('Beam: in_memory, 1 worker', 'ingest: span 3', 'Beam: in_memory, 1 worker',
               'run: span 3, window of spans 1..3', 'spans [2] failed the data gate',
               'spans [2] failed the data gate', 'Beam: multi_processing, 2 workers'):
    say(text)
  lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
  assert lines == ['Beam: in_memory, 1 worker', 'ingest: span 3',
                   'run: span 3, window of spans 1..3', 'spans [2] failed the data gate',
                   'Beam: multi_processing, 2 workers']
