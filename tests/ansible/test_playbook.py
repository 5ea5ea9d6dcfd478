"""The Ansible playbook (ansible/): lint-clean, and a real converge of what needs no root.

The converge runs `site.yml` against this machine (`connection: local`) as the hub, a trainer
worker and an edge at once, with every path under a temporary prefix and the service user the
current one. It skips the tasks tagged `apt`, `systemd`, `boot` and `root` (packages, units,
the boot config, the service user, journald, Wi-Fi): those need root and a Pi. What runs is the
roles' own code path: the venv is created, a wheel of this checkout is copied and installed with
pip, `hub init` and `hub add-peer` make the edge's credential, the play hands it to the edge,
`trainer worker init` makes the worker, and edge.toml is rendered and validated.

To stay offline and fast, pip installs the wheel with `--no-deps --no-index`, and the venv sees
the project's `.venv` packages (NumPy, OpenCV, LiteRT, pydantic) through the role's
`common_venv_extra_site_dirs`: resolving and downloading the dependencies is what this test does
not cover.
"""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent
SKIP_TAGS = "apt,systemd,boot,root"
PACKAGES = ["wire", "video", "edge", "hub", "trainer", "watcher"]

pytestmark = pytest.mark.skipif(
    shutil.which("ansible-playbook", path=str(BIN)) is None,
    reason="ansible is not installed (pip install 'vigia[dev]' brings ansible-core)",
)


@dataclass(frozen=True)
class Fleet:
    """A converged prefix: where everything went, and what the two runs said."""

    prefix: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]

    @property
    def venv(self) -> Path:
        return self.prefix / "opt" / "venv"

    @property
    def etc(self) -> Path:
        return self.prefix / "etc"


def ansible_env(home: Path) -> dict[str, str]:
    """Ansible's state (temp files, collections cache) under `home`, no colours."""
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def run(
    command: list[str], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in ansible/, capturing its output (niced like the pytest that runs it)."""
    return subprocess.run(
        command,
        cwd=ANSIBLE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


class Job:
    """A command started in the background (ansible-lint, the check run) while the converge
    runs: the machine has two cores, and each Ansible run is mostly one process."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, cwd=ANSIBLE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self) -> subprocess.CompletedProcess[str]:
        """Wait for it; its exit code and output."""
        out, err = self.process.communicate(timeout=300)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)

    def stop(self) -> None:
        """Kill it if it still runs (a failed or interrupted test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of localhost (ok, changed, failed, ...)."""
    line = next(x for x in output.splitlines() if x.startswith("localhost") and "changed=" in x)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def build_wheel(out: Path) -> Path:
    """A wheel of this checkout, built offline from a copy (the work tree stays clean)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(out), str(src)]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return next(out.glob("vigia-*.whl"))


def extra_vars(prefix: Path, wheel: Path, trainer_pub: Path) -> dict[str, object]:
    """Every path under `prefix`, this user as the service user, the wheel as the source."""
    return {
        "common_user": getpass.getuser(),
        "common_group": grp.getgrgid(os.getgid()).gr_name,
        "common_prefix": str(prefix / "opt"),
        "common_etc_dir": str(prefix / "etc"),
        "common_python": sys.executable,
        "common_vigia_wheel": str(wheel),
        "common_pip_extra_args": ["--no-deps", "--no-index"],
        "common_venv_extra_site_dirs": [sysconfig.get_paths()["purelib"]],
        "hub_data_dir": str(prefix / "var" / "hub"),
        "hub_advertise": "127.0.0.1:7700",
        "hub_peers": [{"name": "laptop", "role": "watcher"}],
        "trainer_worker_data_dir": str(prefix / "var" / "worker"),
        "trainer_worker_name": "pc-a",
        "trainer_worker_advertise": "127.0.0.1:7710",
        "trainer_worker_fetch_credential_to": str(prefix / "fetched"),
        "edge_name": "edge-door",
        "edge_data_dir": str(prefix / "var" / "edge"),
        "edge_trainer_key_src": str(trainer_pub),
        "edge_vision_defaults": {"fps_limit": 8.0, "min_area": 500},
        "edge_thresholds": {"Egyptian cat": 0.7},
        "edge_cameras": [
            {
                "name": "door",
                "url": 'rtsp://vigia:s3cr"et@192.0.2.10:554/stream1',
                "vision": {"fps_limit": 5.0, "min_area": 900},
                "masks": [[[0, 0], [640, 0], [640, 60], [0, 60]]],
            },
            {"name": "yard", "url": "picamera2:0"},
        ],
    }


def write_inputs(base: Path, name: str, wheel: Path, trainer_pub: Path) -> tuple[Path, Path]:
    """An inventory with this machine in every group, and the extra vars file."""
    prefix = base / name
    prefix.mkdir()
    inventory = base / f"{name}.ini"
    inventory.write_text(
        "[hubs]\nlocalhost\n[trainer_workers]\nlocalhost\n[edges]\nlocalhost\n[all:vars]\n"
        f"ansible_connection=local\nansible_python_interpreter={sys.executable}\n"
        "ansible_become=false\n"
    )
    variables = base / f"{name}.json"
    variables.write_text(json.dumps(extra_vars(prefix, wheel, trainer_pub)))
    return inventory, variables


def playbook(inventory: Path, variables: Path, *flags: str) -> list[str]:
    """ansible-playbook site.yml on that inventory, skipping what needs root or a Pi."""
    return [
        str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{variables}",
        "--skip-tags", SKIP_TAGS, *flags, "site.yml",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A wheel of this checkout, a trainer key pair, and a folder for Ansible's own files."""
    base = tmp_path_factory.mktemp("ansible")
    wheel = build_wheel(base / "dist")
    keys = base / "keys"
    made = run([str(BIN / "trainer"), "keygen", "--keys", str(keys)])
    assert made.returncode == 0, made.stderr
    return base, wheel, keys / "trainer.pub"


@pytest.fixture(scope="module")
def lint_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Job]:
    """ansible-lint (production profile, offline), started now."""
    home = tmp_path_factory.mktemp("lint-home")
    job = Job([str(BIN / "ansible-lint"), "--offline"], ansible_env(home))
    yield job
    job.stop()


@pytest.fixture(scope="module")
def check_job(inputs: tuple[Path, Path, Path]) -> Iterator[Job]:
    """`--check --diff` of site.yml against a fresh prefix, started now."""
    base, wheel, trainer_pub = inputs
    inventory, variables = write_inputs(base, "check", wheel, trainer_pub)
    env = ansible_env(base / "ansible-home-check")
    job = Job(playbook(inventory, variables, "--check", "--diff"), env)
    yield job
    job.stop()


@pytest.fixture(scope="module")
def fleet(inputs: tuple[Path, Path, Path], lint_job: Job, check_job: Job) -> Fleet:
    """site.yml converged twice into one prefix (lint and the check run go on meanwhile)."""
    base, wheel, trainer_pub = inputs
    inventory, variables = write_inputs(base, "fleet", wheel, trainer_pub)
    env = ansible_env(base / "ansible-home")
    command = playbook(inventory, variables)
    first = run(command, env=env)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    second = run(command, env=env)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
    return Fleet(base / "fleet", first, second)


def test_yamllint_is_clean() -> None:
    done = run([str(BIN / "yamllint"), "--strict", "."])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_playbook_passes_the_syntax_check(tmp_path: Path) -> None:
    done = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "inventory.example.ini",
            "--syntax-check",
            "site.yml",
        ],
        env=ansible_env(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_group_vars_document_every_role_default() -> None:
    groups = {"common": "all", "edge": "edges", "hub": "hubs", "trainer_worker": "trainer_workers"}
    for role, group in groups.items():
        defaults = (ANSIBLE / "roles" / role / "defaults" / "main.yml").read_text()
        documented = (ANSIBLE / "group_vars" / group / "main.yml").read_text()
        # Both are a header, a blank line, then the same settings with the same comments.
        assert documented.split("\n\n", 1)[1] == defaults.split("\n\n", 1)[1], role
        lines = defaults.split("\n\n", 1)[1].splitlines()
        for number, line in enumerate(lines):
            if re.match(r"^\w+:", line):
                # The nearest line above that is neither a setting nor a setting's continuation.
                above = next(x for x in reversed(lines[:number]) if not re.match(r"^(\w+:|\s)", x))
                assert above.startswith("#"), f"{role}: {line} has no comment"


def test_the_systemd_units_are_valid(tmp_path: Path) -> None:
    """The unit templates, rendered, pass `systemd-analyze verify` (the converge skips them)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here")
    values = {
        "ansible_managed": "test", "common_user": getpass.getuser(),
        "common_group": grp.getgrgid(os.getgid()).gr_name, "common_venv": str(BIN.parent),
        "edge_name": "edge-door", "edge_config": "/etc/vigia/edge.toml", "edge_restart_sec": 5,
        "edge_watchdog_sec": 30, "hub_name": "hub", "hub_data_dir": "/var/lib/vigia/hub",
        "trainer_worker_name": "pc-a", "trainer_worker_data_dir": "/var/lib/vigia/worker",
    }  # fmt: skip
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    units: dict[str, str] = {}
    for template in sorted((ANSIBLE / "roles").glob("*/templates/*.service.j2")):
        unit = tmp_path / template.name.removesuffix(".j2")
        unit.write_text(env.from_string(template.read_text()).render(values))
        units[unit.stem] = unit.read_text()
    assert sorted(units) == ["vigia-edge", "vigia-hub", "vigia-trainer-worker"]
    done = subprocess.run(
        ["systemd-analyze", "verify", *[f"{tmp_path / name}.service" for name in units]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    edge = units["vigia-edge"]
    for line in ["Type=notify", "Restart=always", "WatchdogSec=30",
                 "After=network-online.target time-sync.target",
                 "Wants=network-online.target time-sync.target"]:  # fmt: skip
        assert f"\n{line}\n" in edge, line
    for text in units.values():
        assert "After=network-online.target time-sync.target" in text


def test_bad_cameras_stop_the_run_with_a_clear_error(inputs: tuple[Path, Path, Path]) -> None:
    base, wheel, trainer_pub = inputs
    inventory, variables = write_inputs(base, "bad", wheel, trainer_pub)
    settings = json.loads(variables.read_text())
    settings["edge_cameras"] = [{"name": "door"}]  # no url
    variables.write_text(json.dumps(settings))
    # Only the checks (tagged always) run: the converge itself is tested above.
    env = ansible_env(base / "ansible-home-bad")
    done = run(playbook(inventory, variables, "--tags", "checks-only"), env=env)
    assert done.returncode != 0
    assert "edge_cameras of localhost must be a list of {name, url}" in done.stdout
    assert list((base / "bad").iterdir()) == []


def test_the_first_converge_changes_and_the_second_changes_nothing(fleet: Fleet) -> None:
    assert recap(fleet.first.stdout)["changed"] > 0
    assert recap(fleet.first.stdout)["failed"] == 0
    assert recap(fleet.second.stdout)["changed"] == 0, fleet.second.stdout[-6000:]


def test_the_installed_edge_answers_help_and_accepts_its_config(fleet: Fleet) -> None:
    shown = run([str(fleet.venv / "bin" / "edge"), "--help"])
    assert shown.returncode == 0 and shown.stdout.startswith("usage: edge"), shown.stderr
    config = fleet.etc / "edge.toml"
    checked = run(
        [str(fleet.venv / "bin" / "edge"), "check", "--config-only", "--config", str(config)]
    )
    assert checked.returncode == 0, checked.stderr
    assert "2 camera(s)" in checked.stdout


def test_vigia_is_installed_from_the_wheel_into_a_venv(fleet: Fleet) -> None:
    cfg = (fleet.venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    stamp = (fleet.venv / ".vigia-installed").read_text()
    assert "vigia[edge,hub,trainer] @ file://" in stamp
    where = run([str(fleet.venv / "bin" / "python"), "-c", "import edge; print(edge.__file__)"])
    assert where.stdout.startswith(str(fleet.venv)), where.stdout + where.stderr


def test_edge_toml_carries_the_cameras_and_settings(fleet: Fleet) -> None:
    config = tomllib.loads((fleet.etc / "edge.toml").read_text())
    assert config["node"]["credential"] == str(fleet.etc / "edge-credential.toml")
    assert config["node"]["data_dir"] == str(fleet.prefix / "var" / "edge")
    assert config["defaults"] == {"fps_limit": 8.0, "min_area": 500}
    assert config["thresholds"] == {"Egyptian cat": 0.7}
    door, yard = config["camera"]
    assert door["url"] == 'rtsp://vigia:s3cr"et@192.0.2.10:554/stream1'
    assert door["vision"] == {"fps_limit": 5.0, "min_area": 900}
    assert door["masks"] == [[[0, 0], [640, 0], [640, 60], [0, 60]]]
    assert yard == {"name": "yard", "url": "picamera2:0"}
    assert stat.S_IMODE((fleet.etc / "edge.toml").stat().st_mode) == 0o640


def test_the_hub_issued_the_edge_its_credential_and_the_play_handed_it_over(fleet: Fleet) -> None:
    hub = fleet.prefix / "var" / "hub"
    assert (hub / "hub.db").exists()
    assert tomllib.loads((hub / "hub.toml").read_text())["advertise"] == "127.0.0.1:7700"
    installed = fleet.etc / "edge-credential.toml"
    assert installed.read_bytes() == (hub / "credentials" / "edge-door.toml").read_bytes()
    credential = tomllib.loads(installed.read_text())
    assert credential["name"] == "edge-door" and credential["role"] == "edge"
    assert credential["hub"] == "127.0.0.1:7700"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert (hub / "credentials" / "laptop.toml").exists()
    assert (fleet.etc / "trainer.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")


def test_the_worker_is_initialised_and_its_credential_fetched(fleet: Fleet) -> None:
    worker = fleet.prefix / "var" / "worker"
    assert tomllib.loads((worker / "worker.toml").read_text())["name"] == "pc-a"
    fetched = fleet.prefix / "fetched" / "pc-a.toml"
    assert tomllib.loads(fetched.read_text())["role"] == "trainer"


def test_check_mode_on_a_fresh_host_changes_nothing(
    inputs: tuple[Path, Path, Path], check_job: Job
) -> None:
    base, _, _ = inputs
    done = check_job.result()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert recap(done.stdout)["changed"] > 0  # it says what it would do...
    assert list((base / "check").iterdir()) == []  # ... and does none of it


def test_ansible_lint_passes_the_production_profile(lint_job: Job) -> None:
    done = lint_job.result()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in done.stderr + done.stdout
