# Two commands do all the set-up: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench clean system-packages

$(STAMP): requirements.lock requirements-dev.lock setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; TFX 1.16 needs Python 3.10 or 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --ignore-requires-python -r requirements.lock -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --use-pep517 --ignore-requires-python -e .
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

test: $(STAMP) system-packages
	$(VENV)/bin/python -m pytest $(ARGS)

bench: $(STAMP)
	$(VENV)/bin/python bench/compare_peer.py $(ARGS)

clean:
	rm -rf .ctpipe bench/out
