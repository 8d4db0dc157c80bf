# Thin wrapper over meson/ninja and the scripts. `make demo` and `make test`
# are the two commands of the README; each installs what it needs first.
BUILD    ?= build
ASAN     ?= build-asan
MESON    ?= meson
JOBS     ?= $(shell nproc)

.PHONY: all deps tools build build-asan test test-unit test-asan test-integration \
        test-deploy test-kubectl demo bench fuzz soak clean

all: build

deps:
	@scripts/deps.sh

tools: deps
	@scripts/tools.sh $(BUILD)/tools

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

$(ASAN)/build.ninja:
	$(MESON) setup $(ASAN) -Dsanitize=true --buildtype=debug

build-asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN) -j $(JOBS)

# Every suite; each prints its own summary, the last line is the total.
test: build build-asan tools
	@scripts/test-all.sh $(BUILD) $(ASAN)

test-unit: build
	$(MESON) test -C $(BUILD) --suite unit --print-errorlogs

test-asan: build-asan
	$(MESON) test -C $(ASAN) --suite unit --print-errorlogs

test-integration: build tools
	$(MESON) test -C $(BUILD) --suite integration --print-errorlogs

demo: build
	@scripts/demo.sh $(BUILD)

bench: build tools
	@bench/run.sh $(BUILD)

fuzz: deps
	@scripts/fuzz.sh $(BUILD)-fuzz 300

soak: build tools
	@scripts/soak.sh $(BUILD) 1200

clean:
	rm -rf $(BUILD) $(ASAN) $(BUILD)-fuzz
