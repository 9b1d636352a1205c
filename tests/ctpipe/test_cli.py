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
