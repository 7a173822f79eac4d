# dsign: `make demo` serves a ready system on http://127.0.0.1:8000 (DSIGN_BIND=0.0.0.0:8000 for the LAN);
# `make test` runs lint and the whole suite (SQLite on two pytest-xdist workers, TEST_WORKERS=0 for one;
# PostgreSQL, fault tests). Both install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
STEP   := @printf '==> %s\n'

.PHONY: demo test bench faults topology screenshots setup system node venv static lint

system:
	@bash scripts/install-system-packages.sh

node: system
	@bash scripts/install-node.sh

$(STAMP):
	@bash scripts/make-venv.sh $(VENV)
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: system $(STAMP)

static: node
	@bash scripts/install-static.sh

# Token, database, CA and schedules: everything the app needs before it serves. Idempotent.
setup: venv static
	@bash scripts/setup-instance.sh
	$(STEP) "static files (hashed, compressed)"
	@$(PY) manage.py collectstatic --noinput -v0

# seed_demo makes the demo users' keys: an administrator's command, given the users' PIN hsm_init wrote.
demo: setup
	$(STEP) "demo users, certificates and the memo-2-tier template"
	@HSM_USERS_PIN_FILE=var/secrets/hsm-users.pin $(PY) manage.py seed_demo
	@bash scripts/serve.sh

lint: venv
	$(STEP) "lint: ruff and the import layers"
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check -q .
	@$(VENV)/bin/lint-imports

test: venv static lint
	@bash scripts/install-test-node.sh
	@bash scripts/run-tests.sh

bench: setup
	@$(PY) -m bench

faults: venv static
	@bash scripts/run-tests.sh --faults

topology: setup
	@bash scripts/topology.sh

screenshots: venv static
	@DSIGN_SCREENSHOTS=1 $(PY) -m pytest tests/ui/test_screenshots.py -q -p no:cacheprovider
