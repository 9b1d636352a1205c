"""The Vertex image's recipe stays in step with the lock and the packages (no Docker here:
the image is built by scripts/build_image.sh on a machine that has it)."""
import os
import re
import tomllib
from tests.conftest import REPO



def _pins(path):
  with open(path, encoding='utf-8') as f:
    return dict(re.match(r'^([A-Za-z0-9_.-]+)==(\S+)', line).groups() for line in f
                if re.match(r'^[A-Za-z0-9_.-]+==', line))


def _norm(name):
  return re.sub(r'[-_.]+', '-', name).lower()


def test_image_requirements_use_the_locked_versions():
  lock = {_norm(k): v for k, v in _pins(os.path.join(REPO, 'requirements.lock')).items()}
  image = _pins(os.path.join(REPO, 'docker', 'requirements-image.txt'))
  assert image
  for name, version in image.items():
    assert lock.get(_norm(name)) == version, (name, version, lock.get(_norm(name)))


def test_the_image_copies_every_package_and_the_schema():
  with open(os.path.join(REPO, 'Dockerfile'), encoding='utf-8') as f:
    dockerfile = f.read()
  assert dockerfile.startswith('#') and 'FROM gcr.io/tfx-oss-public/tfx:1.16.0' in dockerfile
  with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
    include = tomllib.load(f)['tool']['setuptools']['packages']['find']['include']
  packages = sorted({name.split('.')[0] for name in include})
  assert packages == ['ctpipe', 'models', 'pipeline']
  for package in packages:
    assert f'COPY {package}/ {package}/' in dockerfile, package
  for folder in ('schema', 'config'):
    assert f'COPY {folder}/ {folder}/' in dockerfile
  # The schema path the Vertex config points at is where the image puts it.
  with open(os.path.join(REPO, 'config', 'ctpipe.yaml'), encoding='utf-8') as f:
    assert 'schema: /ctpipe/schema/schema.pbtxt' in f.read()
  assert 'WORKDIR /ctpipe' in dockerfile and 'COPY pyproject.toml setup.py' in dockerfile
