# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# This machine image ships a local CPU torch wheel; use it when present so torch never pulls a CUDA build.
PIP_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
DEMO_OUT ?= demo-output
PYTEST_ARGS ?=

.PHONY: demo test venv bench clean sysdeps

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install -q --disable-pip-version-check $(PIP_LINKS) -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/interforge demo --out $(DEMO_OUT)

# System tools the tests use, from Debian's packages: headless Chromium renders the HTML report;
# GPAW (GPL, run as a separate program like VASP, never imported by interforge) is the open-source
# DFT teacher of the slow tier; PostgreSQL's server binaries (initdb, pg_ctl) let a test fixture run
# a throwaway server for the label store's tests (marker `postgres`). Installed when missing and we
# are root with apt; otherwise those tests skip and say why.
sysdeps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	  /usr/bin/python3 -c "import gpaw" >/dev/null 2>&1 || missing="$$missing gpaw gpaw-data"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  for b in slurmctld slurmd slurmdbd munged mariadbd; do test -x /usr/sbin/$$b || { \
	    missing="$$missing slurm-wlm slurmdbd munge mariadb-server"; break; }; done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian packages:$$missing"; \
	      (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing) >/dev/null \
	        || echo "warning: could not install$$missing; the tests that need them will skip"; \
	    else echo "note: missing$$missing; the tests that need them will skip"; fi; \
	  fi

test: venv sysdeps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
