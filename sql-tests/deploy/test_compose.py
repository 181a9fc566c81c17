"""docker-compose.yml and the Dockerfile, checked without a Docker engine:
valid against the Compose specification, the documented topology, and
commands that use only flags the built binaries accept."""

import os
import pathlib
import subprocess
import sys

from ruamel.yaml import YAML

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BINARIES = ("strata-server", "strata-scheduler", "strata-executor")


def compose():
    return YAML(typ="safe").load(COMPOSE.read_text())


def flags(command):
    """{flag: value} of a command written as a list."""
    out = {}
    for i, arg in enumerate(command):
        if arg.startswith("--"):
            nxt = command[i + 1] if i + 1 < len(command) else None
            out[arg] = None if nxt is None or nxt.startswith("--") else str(nxt)
    return out


def test_valid_against_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema",
         "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_topology():
    doc = compose()
    services = doc["services"]
    assert {"postgres", "minio", "strata-scheduler", "strata-executor-1",
            "strata-executor-2", "strata-server"} <= set(services)
    for name in ("postgres", "minio", "strata-scheduler", "strata-executor-1",
                 "strata-executor-2", "strata-server"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"

    server = services["strata-server"]
    needs = server["depends_on"]
    for name in ("postgres", "strata-scheduler", "strata-executor-1", "strata-executor-2"):
        assert needs[name]["condition"] == "service_healthy", name
    assert any(str(p).startswith("5433:") for p in server["ports"])
    # The console and /metrics, published on the port the server serves them.
    console_port = flags(server["command"])["--http"].rsplit(":", 1)[1]
    assert any(str(p) == f"{console_port}:{console_port}" for p in server["ports"])

    # Named volumes: every one used is declared, every one declared is used.
    declared = set(doc["volumes"])
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared

    # The addresses line up: executors and the server find the scheduler by
    # its service name and port, executors advertise their own names.
    scheduler = flags(services["strata-scheduler"]["command"])
    port = scheduler["--listen"].rsplit(":", 1)[1]
    assert flags(server["command"])["--scheduler"] == f"strata-scheduler:{port}"
    for name in ("strata-executor-1", "strata-executor-2"):
        executor = services[name]
        given = flags(executor["command"])
        assert given["--scheduler"] == f"strata-scheduler:{port}", name
        assert given["--advertise"] == name
        assert executor["depends_on"]["strata-scheduler"]["condition"] == "service_healthy"


def test_commands_use_flags_the_binaries_accept():
    bin_dir = pathlib.Path(os.environ["STRATA_BIN_DIR"])
    helps = {}
    for name in BINARIES:
        result = subprocess.run([str(bin_dir / name), "--help"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        helps[name] = result.stdout
    checked = 0
    for service, spec in compose()["services"].items():
        command = spec.get("command")
        if not command or command[0] not in BINARIES:
            continue
        for flag in flags(command):
            assert f"{flag} " in helps[command[0]], f"{service}: {command[0]} has no {flag}"
            checked += 1
    assert checked > 20


def test_the_dockerfile_builds_and_ships_the_three_binaries():
    text = DOCKERFILE.read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2, "a multi-stage build"
    assert " AS build" in stages[0]
    for name in BINARIES:
        assert f"--bin {name}" in text
        assert f"target/release/{name}" in text
    assert "COPY --from=build" in text
    images = {spec.get("image") for spec in compose()["services"].values()
              if str(spec.get("command", [""])[0]).startswith("strata-")}
    assert images == {"strata:latest"}


def test_the_lake_is_in_minio_for_every_process_that_reads_or_writes_it():
    services = compose()["services"]
    server = services["strata-server"]
    root = flags(server["command"])["--lake-root"]
    assert root.startswith("s3://")
    bucket = root.removeprefix("s3://").split("/")[0]
    setup = " ".join(services["minio-setup"]["entrypoint"])
    assert f"lake/{bucket}" in setup, "minio-setup must create the lake's bucket"
    for name in ("strata-server", "strata-executor-1", "strata-executor-2"):
        env = services[name]["environment"]
        assert env["STRATA_S3_ENDPOINT"] == "http://minio:9000", name
        assert "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env, name
        assert services[name]["depends_on"]["minio-setup"]["condition"] == \
            "service_completed_successfully", name


def test_the_server_listening_beyond_loopback_has_a_password():
    server = compose()["services"]["strata-server"]
    listen = flags(server["command"])["--listen"]
    assert not listen.startswith("127.0.0.1")
    # Without it strata-server refuses to listen on 0.0.0.0; compose itself
    # refuses to start with the variable unset.
    assert ":?" in server["environment"]["STRATA_ADMIN_PASSWORD"]


def test_every_cluster_member_has_the_cluster_secret():
    services = compose()["services"]
    for name in ("strata-scheduler", "strata-executor-1", "strata-executor-2",
                 "strata-server"):
        # Scheduler and executors refuse to listen beyond loopback without
        # it, the server cannot reach them without it; compose refuses to
        # start with the variable unset.
        assert ":?" in services[name]["environment"]["STRATA_CLUSTER_SECRET"], name
