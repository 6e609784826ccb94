# Parley: the two commands that matter are `make run` and `make test`.
# Each installs what is missing (Debian packages, npm modules), builds, and
# then runs a server or the whole test suite.

BUILD ?= build
RELEASE ?= build-release
FUZZBUILD ?= build-fuzz
DATA ?= data
DOMAIN ?= localhost
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= xml scram jid base64 config s2s
PYTHON ?= /usr/bin/python3

BUILD_DEPS = gcc pkg-config meson ninja-build libuv1-dev libexpat1-dev libssl-dev \
             libsqlite3-dev libidn-dev libidn2-dev libconfig-dev libunbound-dev libjansson-dev libhttp-parser-dev \
             libwslay-dev
TEST_DEPS  = libcmocka-dev python3-pytest python3-slixmpp python3-prometheus-client libstrophe-dev sqlite3 chromium \
             python3-aioxmpp python3-nbxmpp go-sendxmpp sendxmpp unbound prosody ejabberd lua-unbound \
             $(if $(shell command -v node),,nodejs npm)
FUZZ_DEPS  = clang libclang-rt-14-dev

.PHONY: all deps deps-test build release run test unit integration fuzz format clean

all: build

deps:
	@scripts/deps.sh $(BUILD_DEPS)

deps-test: deps
	@scripts/deps.sh $(TEST_DEPS)
	@cd tests/integration/js && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Db_sanitize=address,undefined -Db_lundef=false

$(RELEASE)/build.ninja:
	meson setup $(RELEASE) --buildtype=release -Dunit_tests=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

release: deps $(RELEASE)/build.ninja
	ninja -C $(RELEASE)

run: release
	@scripts/run.sh $(RELEASE) $(DATA) $(DOMAIN)

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	PARLEY_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/integration

test: deps-test build
	meson test -C $(BUILD) --suite unit --print-errorlogs
	PARLEY_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/integration

fuzz: deps
	@scripts/deps.sh $(FUZZ_DEPS)
	[ -f $(FUZZBUILD)/build.ninja ] || CC=clang meson setup $(FUZZBUILD) -Dfuzz=true -Dunit_tests=false
	ninja -C $(FUZZBUILD) $(addprefix fuzz/fuzz_,$(FUZZ_TARGETS))
	mkdir -p fuzz/crashes
	# Each target runs FUZZ_SECONDS.  New inputs go to a scratch corpus in
	# the build dir; the seeds in fuzz/corpus/ stay as committed.
	for f in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZBUILD)/corpus/$$f; \
		$(FUZZBUILD)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/crashes/ \
			-print_final_stats=1 $(FUZZBUILD)/corpus/$$f fuzz/corpus/$$f || exit 1; \
	done

# make bench: Parley against Prosody and ejabberd (bench/README.md); not part
# of `make test`, which runs only a smoke test of the generator.
# BENCH_ARGS passes options to bench/run.py, e.g. BENCH_ARGS="--preset quick".
.PHONY: bench
bench: release
	@scripts/bench.sh $(RELEASE) $(BENCH_ARGS)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'fuzz/*.c' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(RELEASE) $(FUZZBUILD)
