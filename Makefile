# Lightship: the two commands are `make run` and `make test`; each does its own set-up.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCAL_KUBECONFIG := $(CURDIR)/.cluster/kubeconfig
CLUSTER_BIN := $(shell source hack/cluster/versions.sh && echo "$$CLUSTER_BIN")
# Commands that talk to "the current cluster" use KUBECONFIG when it is set, else the local one.
export KUBECONFIG ?= $(LOCAL_KUBECONFIG)
KUBECTL := $(if $(wildcard $(CLUSTER_BIN)/kubectl),$(CLUSTER_BIN)/kubectl,kubectl)
CRD := crds/lightship.dev_containerservicedeployments.yaml

.PHONY: help venv system-deps cluster-binaries node-binaries helm-binary dist cluster cluster-down lint unit go-test kstatus test test-chaos install deploy run crd bench bench-scale bench-traffic

help:
	@echo "make run          local cluster (unless KUBECONFIG is set) + CRD + operator in the foreground"
	@echo "make test         lint, unit and integration tests on the local cluster"
	@echo "make test-chaos   the long fault-injection tests (operator kills, API server faults)"
	@echo "make cluster      start or reuse the local cluster; make cluster-down stops it"
	@echo "make install      apply the CRD to the current cluster"
	@echo "make deploy       apply manifests/ (the operator in the cluster)"
	@echo "make dist         regenerate dist/install.yaml and the Helm chart charts/lightship/ from manifests/"
	@echo "make bench        the benchmarks"
	@echo "make bench-scale  the benchmarks at 1,000, 3,000 and 10,000 services (SIZES=\"1000 3000\", SKIP_BASELINE=1)"
	@echo "make bench-traffic  real traffic on the real node: time to serve a new image, against a Deployment"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Python >= 3.11 is needed (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

system-deps:
	hack/system-deps.sh

cluster-binaries:
	hack/cluster/build.sh >/dev/null
	hack/cluster/build-gateway.sh >/dev/null

helm-binary:
	hack/helm/build.sh >/dev/null

# The real node's binaries (the default cluster runs it; side clusters do not need them).
node-binaries: system-deps
	hack/cluster/build.sh node >/dev/null
	hack/cluster/build.sh registry >/dev/null

cluster: system-deps
	hack/cluster/cluster.sh up

cluster-down:
	hack/cluster/cluster.sh down

lint: venv
	$(BIN)/ruff check operator tests bench hack
	$(BIN)/ruff format --check operator tests bench hack
	$(BIN)/mypy

crd: venv
	$(BIN)/lightship crd > $(CRD)

unit: venv
	$(BIN)/pytest tests/unit

# The Go programs of the repository (the test application, the health-check prober): their own
# tests, on 127.0.0.1 only; and the Argo CD health check's tests under gopher-lua (hack/argocd-health).
go-test:
	for module in hack/testapp hack/prober hack/argocd-health; do (cd $$module && go vet ./... && go test ./...); done

# The kstatus harness (hack/kstatus: cli-utils' kstatus over real objects), built once into the
# cache, so that its first build shows here rather than inside a test.
kstatus:
	hack/kstatus/build.sh >/dev/null

test: venv system-deps cluster-binaries node-binaries helm-binary lint go-test kstatus
	$(BIN)/pytest -m "not chaos"

test-chaos: venv system-deps cluster-binaries
	$(BIN)/pytest -m chaos

install:
	$(KUBECTL) apply --server-side --force-conflicts -f $(CRD)
	$(KUBECTL) wait --for condition=established --timeout=60s -f $(CRD)

deploy:
	$(KUBECTL) apply -k manifests/

# dist/install.yaml and charts/lightship/ are generated from manifests/ and committed;
# tests/integration/test_dist.py fails when they are stale.
dist: venv cluster-binaries
	hack/dist.sh

# On the local cluster the health-check prober comes from its registry (hack/cluster/node-images.sh).
LOCAL_PROBE_IMAGE := 127.0.0.1:5000/lightship/prober:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

run: venv
	@if [[ "$$KUBECONFIG" == "$(LOCAL_KUBECONFIG)" ]]; then $(MAKE) --no-print-directory cluster; fi
	$(MAKE) --no-print-directory install
	@if [[ "$$KUBECONFIG" == "$(LOCAL_KUBECONFIG)" ]]; then \
	  export LIGHTSHIP_PROBE_IMAGE="$${LIGHTSHIP_PROBE_IMAGE:-$(LOCAL_PROBE_IMAGE)}"; fi; \
	  $(BIN)/lightship run

bench: venv cluster-binaries
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py

# How the cost grows: the bench at 1,000, 3,000 and 10,000 services (hours on 2 cores; SIZES=...
# for fewer, SKIP_BASELINE=1 for Lightship only), each on a fresh cluster;
# bench/results/scale.{md,json,png}.
bench-scale: venv cluster-binaries
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/scale.py $(SIZES) $(if $(SKIP_BASELINE),--skip-baseline)

# Real traffic through the local gateway to the real node (the default cluster): apply -> first
# answer of the new version, -> last answer of the old one, against a Deployment (not in make test).
bench-traffic: venv cluster
	$(BIN)/python bench/traffic.py
