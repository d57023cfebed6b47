"""deploy/ is what the fleet test runs, and it passes the linters that exist offline: the
compose file against the compose-spec JSON schema (check-jsonschema ships it), the systemd
units through ``systemd-analyze verify``, the nginx template through ``nginx -t``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet.cluster import (
    DEPLOY,
    NGINX_TEMPLATE,
    nginx_binary,
    nginx_main_config,
    render_template,
)

SYSTEMD = DEPLOY / "systemd"
INSTALLED_SINCRO = "/opt/sincro/venv/bin/sincro"
#: process kind -> the ``sincro`` sub-command tests/fleet starts for it
PROCESSES = {"api": "api", "worker": "worker", "beat": "beat", "relay": "relay"}


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    tool = _tool("check-jsonschema")
    assert tool, "check-jsonschema is a dev dependency (pyproject.toml)"
    argv = [tool, "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_compose_file_follows_the_compose_spec(tmp_path: Path) -> None:
    checked = check_compose(DEPLOY / "compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("    command:", "    comand:"))
    assert check_compose(broken).returncode != 0  # the linter does bite


def test_compose_runs_what_the_fleet_test_runs() -> None:
    services = compose()["services"]
    assert {"postgres", "rabbitmq", "redis", "nginx", "migrate", "beat", "relay"} <= set(services)
    assert services["api1"]["command"][0] == services["api2"]["command"][0] == "api"
    assert services["worker"]["command"][0] == "worker"
    assert services["beat"]["command"] == ["beat"] and services["relay"]["command"] == ["relay"]
    assert services["api1"]["build"]["dockerfile"] == "deploy/Dockerfile"
    nginx = services["nginx"]
    assert (
        f"./nginx/{NGINX_TEMPLATE.name}:/etc/nginx/templates/{NGINX_TEMPLATE.name}:ro"
        in (nginx["volumes"])
    )
    placeholders = set(re.findall(r"\$\{(SINCRO_[A-Z0-9_]+)\}", NGINX_TEMPLATE.read_text()))
    assert placeholders == set(nginx["environment"])
    assert services["api1"]["environment"]["SINCRO_MODE"] == "production"
    assert "pip install ." in (DEPLOY / "Dockerfile").read_text()


def test_systemd_units_cover_every_process_with_one_environment_file() -> None:
    units = {p.name: p.read_text() for p in SYSTEMD.glob("*.service")}
    commands = {
        name: re.search(r"^ExecStart=(\S+) (\w+)", text, re.M) for name, text in units.items()
    }
    kinds = {m.group(2) for m in commands.values() if m}
    assert set(PROCESSES.values()) | {"migrate"} <= kinds
    for name, text in units.items():
        assert "EnvironmentFile=/etc/sincro/sincro.env" in text, name
        assert f"ExecStart={INSTALLED_SINCRO} " in text, name
    assert "--name worker%i@%H" in units["sincro-worker@.service"]
    example = (DEPLOY / "sincro.env.example").read_text()
    assert "SINCRO_MODE=production" in example and "SINCRO_SECRET_KEY=" in example


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (a linter where available)")
    sincro = _tool("sincro")
    assert sincro, "the sincro entry point is installed in the environment"
    names = []
    for unit in SYSTEMD.iterdir():
        text = unit.read_text().replace(INSTALLED_SINCRO, sincro)
        name = unit.name.replace("@.", "@1.")  # verify a template through an instance
        (tmp_path / name).write_text(text)
        names.append(name)
    assert verify(analyze, tmp_path, names) == ""
    beat = tmp_path / "sincro-beat.service"
    beat.write_text(beat.read_text().replace("Restart=always", "Restart=allways"))
    assert "allways" in verify(analyze, tmp_path, [beat.name])  # the linter does bite


def verify(analyze: str, folder: Path, names: list[str]) -> str:
    """What ``systemd-analyze verify`` reports on the units (empty when all is well)."""
    argv = [analyze, "verify", "--man=no", *sorted(names)]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120)
    report = (done.stdout + done.stderr).strip()
    return report if report or done.returncode == 0 else f"exit {done.returncode}"


def test_nginx_template_is_a_valid_configuration(tmp_path: Path) -> None:
    values = {"SINCRO_LISTEN": "127.0.0.1:8080", "SINCRO_API_1": "127.0.0.1:8001"}
    with pytest.raises(KeyError, match="SINCRO_API_2"):
        render_template(NGINX_TEMPLATE.read_text(), values)
    values["SINCRO_API_2"] = "127.0.0.1:8002"
    site = tmp_path / "sincro.conf"
    site.write_text(render_template(NGINX_TEMPLATE.read_text(), values))
    assert "$proxy_add_x_forwarded_for" in site.read_text()  # nginx's own variables stay
    main = tmp_path / "nginx.conf"
    main.write_text(nginx_main_config(site, tmp_path))
    argv = [nginx_binary(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")]
    done = subprocess.run(
        [*argv, "-c", str(main), "-t"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
