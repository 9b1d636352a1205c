# Two commands do all the set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV := VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv

.PHONY: run test test-fast lint lock bench clean system-packages

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; TFX 1.16 needs Python 3.10 or 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# uv installs the fully pinned lock in under a minute (pip: about five). --no-deps: the lock
	@# is complete, and TFX 1.16's metadata says Python <3.11 although its wheels run on 3.11.
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# --compile-bytecode (about 70 s here): otherwise every test subprocess compiles
	@# TensorFlow's modules on first import (measured: the suite 11.6 min instead of 7.4).
	$(UV) pip install --quiet --no-deps --compile-bytecode -r requirements.lock -r requirements-dev.lock
	$(UV) pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ctpipe run $(ARGS)

# Debian packages the tests use: chromium (the report test opens the HTML report in a
# real headless browser) and mariadb-server (inspect on a MySQL-compatible store).

system-packages:
	@missing=""; command -v chromium >/dev/null || missing="chromium"; \
	command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd || missing="$$missing mariadb-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null || \
	      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; }; \
	  else echo "error: the tests need Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# The whole suite, after the linter (CI runs this).
test: $(STAMP) system-packages lint
	$(VENV)/bin/python -m pytest $(ARGS)

# The fast unit tests alone (no pipeline, server or browser): under a minute.
test-fast: $(STAMP) lint
	$(VENV)/bin/python -m pytest -m "not slow" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Regenerates the locks from pyproject.toml and the .in files (needs PyPI). TFX 1.16 says
# Python <3.11 although its wheels run on 3.11, hence the explicit target.
LOCK_FLAGS := --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --no-header \
  --no-annotate --no-emit-package setuptools
lock: $(STAMP)
	$(UV) pip compile pyproject.toml requirements.in $(LOCK_FLAGS) --no-emit-package wheel \
	  -o requirements.lock
	$(UV) pip compile requirements-dev.in -c requirements.lock $(LOCK_FLAGS) -o requirements-dev.lock

bench: $(STAMP)
	$(VENV)/bin/python bench/compare_peer.py $(ARGS)

clean:
	rm -rf .ctpipe bench/out
