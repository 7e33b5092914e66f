# fraudstream: two commands from a bare machine (Python 3.11, JDK 17, Maven, pip).
#   make demo   install everything, then run the stolen-card replay end to end on the embedded stack
#   make test   install everything, then run every test tier against real Kafka, Spark and Prometheus

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
MVN    ?= mvn -q -B
PYTEST_ARGS ?=

.PHONY: demo test install jars prometheus lint clean

demo: install jars
	$(BIN)/fraudstream demo

test: install jars prometheus
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

jars: .jars/.resolved .jars/spark/fraudstream-tiles.jar

.jars/.resolved: deploy/jvm/pom.xml
	@command -v mvn >/dev/null || { echo "mvn not found: install Maven (apt-get install maven)"; exit 1; }
	rm -rf .jars/kafka .jars/spark
	$(MVN) -f deploy/jvm/pom.xml -Pkafka dependency:copy-dependencies
	$(MVN) -f deploy/jvm/pom.xml -Pspark dependency:copy-dependencies
	touch $@

# The card-tile processor the hot query runs (streaming/jvm), built against Spark's API jars.
.jars/spark/fraudstream-tiles.jar: .jars/.resolved streaming/jvm/pom.xml $(shell find streaming/jvm/src -name '*.java')
	$(MVN) -f streaming/jvm/pom.xml package

# Prometheus is a Debian package; the metrics integration tests scrape with a real server.
prometheus:
	@command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	  else echo "prometheus not found: sudo apt-get install prometheus"; exit 1; fi; }

lint: install
	$(BIN)/ruff check foundation services streaming scoring tests bench
	$(BIN)/ruff format --check foundation services streaming scoring tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .jars .state
