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

# Headless Chromium (Debian's package) renders the HTML report in the tests. Installed when missing
# and we are root with apt; otherwise the rendering test skips with a message saying so.
sysdeps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null \
	      || echo "warning: could not install chromium; the report rendering test will skip"; \
	  else echo "note: chromium not found; the report rendering test will skip"; fi; }

test: venv sysdeps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
