"""The deployment files hold together: compose, Prometheus, Grafana provisioning, the dashboard, the Dockerfile.

No Docker engine runs here, so these tests read the files the way Compose, Prometheus and Grafana would:
the YAML and JSON parse, every path a service mounts exists, Prometheus' own ``promtool`` accepts the
scrape config and every dashboard query, and each metric a query names is one masterplan registers.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import yaml
from prometheus_client import CollectorRegistry

from masterplan.metrics import LLMMetrics, ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "masterplan.json"
METRIC_NAME = re.compile(r"\bmasterplan_[a-z0-9_]+\b")
GRAFANA_RANGE_VARIABLES = re.compile(r"\$__(rate_interval|range|interval)")
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "gauge": ("",),
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = orjson.loads(DASHBOARD.read_bytes())["panels"]
    return panels


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def registered_sample_names() -> set[str]:
    """Every sample name masterplan's metrics can expose (``_total``, ``_bucket``... included)."""
    registry = CollectorRegistry()
    LLMMetrics(registry)
    ServiceMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type])
    return names


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Host path -> container path of a service's bind mounts (``./...``)."""
    pairs = (volume.split(":")[:2] for volume in service.get("volumes", []))
    return {source: target for source, target in pairs if source.startswith("./")}


def test_compose_runs_the_service_on_postgres_with_prometheus_and_grafana() -> None:
    services = compose()["services"]
    assert set(services) == {"masterplan", "postgres", "prometheus", "grafana"}
    service = services["masterplan"]
    assert service["build"] == "."
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["environment"]["MASTERPLAN_DATABASE_URL"].startswith("postgresql://masterplan:")
    assert "@postgres:5432/masterplan" in service["environment"]["MASTERPLAN_DATABASE_URL"]
    assert "ANTHROPIC_API_KEY" in service["environment"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"]["image"] == "postgres:16"


def test_every_file_compose_mounts_exists() -> None:
    for name, service in compose()["services"].items():
        for source in mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_prometheus_scrapes_the_service_metrics_and_promtool_accepts_the_config() -> None:
    config = load_yaml(DEPLOY / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["masterplan:8080"]
    assert mounts(compose()["services"]["prometheus"])["./deploy/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard_folder() -> None:
    (datasource,) = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(DEPLOY / "grafana/provisioning/dashboards/masterplan.yml")["providers"]
    grafana_mounts = mounts(compose()["services"]["grafana"])
    assert grafana_mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert grafana_mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    used_uids = {panel["datasource"]["uid"] for panel in dashboard_panels() if "datasource" in panel}
    assert used_uids == {datasource["uid"]}


def test_dashboard_panels_have_unique_ids_and_stay_inside_the_grid() -> None:
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['title']!r} is wider than the grid"
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("cost", "cache-read share", "duration", "time to first token", "requests", "failed"):
        assert topic in titles


def test_every_metric_the_dashboard_queries_is_registered_by_masterplan() -> None:
    registered = registered_sample_names()
    queried = {name for query in dashboard_queries() for name in METRIC_NAME.findall(query)}
    assert queried, "the dashboard queries no masterplan metric"
    assert queried - registered == set()


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    rules = [
        {"record": f"masterplan:dashboard_query_{index}", "expr": GRAFANA_RANGE_VARIABLES.sub("5m", query)}
        for index, query in enumerate(dashboard_queries())
    ]
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_simulator_override_only_changes_the_service_command() -> None:
    override = load_yaml(DEPLOY / "compose.sim.yml")
    assert list(override) == ["services"]
    assert list(override["services"]) == ["masterplan"]
    assert list(override["services"]["masterplan"]) == ["command"]
    command = override["services"]["masterplan"]["command"]
    assert command[0] == "serve"
    assert "--sim" in command


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_on_health() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert sum(line.startswith("FROM ") for line in instructions) == 2, "a builder and a runtime stage"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    healthcheck = next(line for line in lines if line.startswith('CMD ["python"'))
    snippet = orjson.loads(healthcheck.removeprefix("CMD "))[2]
    compile(snippet, "healthcheck", "exec")
    assert "/health" in snippet
    assert 'ENTRYPOINT ["masterplan"]' in instructions
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]' in instructions
    assert "EXPOSE 8080" in instructions


def test_the_image_installs_the_sandbox_and_requires_it() -> None:
    """Every check in the image runs under bubblewrap; without it the service refuses to run checks."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = [line for line in text.splitlines() if "apt-get install" in line]
    assert any("bubblewrap" in line.split() for line in installs), installs
    assert "MASTERPLAN_SANDBOX=required" in text.split()
