"""mdflow/metrics.py is the one home of the measured series; the YAML schemas cannot import it."""

import yaml

from mdflow.metrics import CONVERGENCE_METRICS, METRICS, VERIFIED
from mdflow.paths import SCHEMA_DIR


def test_schemas_list_the_convergence_metrics():
    config = yaml.safe_load((SCHEMA_DIR / "config.schema.yaml").read_text())
    sheet = yaml.safe_load((SCHEMA_DIR / "systems.schema.yaml").read_text())
    assert config["properties"]["convergence"]["properties"]["metric"]["enum"] == list(CONVERGENCE_METRICS)
    assert sheet["properties"]["converge_metric"]["enum"] == list(CONVERGENCE_METRICS)


def test_every_named_metric_is_defined():
    assert set(VERIFIED) <= set(METRICS) and set(CONVERGENCE_METRICS) <= set(METRICS)
