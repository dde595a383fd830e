"""A throwaway JupyterLab, a Voila for the demo gallery, and a headless Chromium for the
browser tests.

JupyterLab listens on 127.0.0.1 at a free port with a random token; its config, settings,
workspace, data and runtime folders live in a temporary folder, news and update checks
are off, and it serves a copy of `notebooks/` so a run never writes outputs into the repo.
Kernels run in fast mode (COURSE_FAST=1). Chromium is Debian's (`apt-get install -y
chromium`, which `.ci/run` does), driven by Playwright for Python; `playwright install` is
never needed. Without Chromium or Playwright every browser test is skipped with the reason,
unless COURSE_REQUIRE_BROWSER=1 (CI sets it once Chromium is installed): then they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LAB_SETTINGS = {  # plugin id -> settings: no news toast, no autosave, every cell in the DOM
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def chromium_path() -> str | None:
    """COURSE_CHROMIUM, else `chromium` on PATH, else Debian's /usr/bin/chromium."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def why_no_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: pip install -e '.[test]'"
    if chromium_path() is None:
        return (
            "Chromium not found (looked for $COURSE_CHROMIUM, `chromium` on PATH, "
            "/usr/bin/chromium): install it with `sudo apt-get install -y chromium`"
        )
    return None


def pytest_collection_modifyitems(config, items):
    reason = why_no_browser()
    if reason is None:
        return
    if os.environ.get("COURSE_REQUIRE_BROWSER", "") == "1":
        return  # the fixtures fail with the reason instead
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {reason}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_env(home: Path, fast: bool = True) -> dict[str, str]:
    """The environment for a Jupyter server whose config, data, runtime and IPython folders
    are in `home`; its kernels in fast mode unless `fast=False`."""
    for name in ("config", "data", "runtime", "ipython"):
        (home / name).mkdir(exist_ok=True)
    return dict(
        os.environ,
        COURSE_FAST="1" if fast else "0",
        COURSE_DEVICE="cpu",
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
    )


class Server:
    """A server process started in `home`, its output in `home/<name>.log`."""

    name = "server"

    def start(self, home: Path, command: list[str], env: dict, cwd: Path) -> None:
        self.home, self.log_path = home, home / f"{self.name}.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_until_up(self, url: str, timeout: float = 90) -> None:
        """Until `url` answers; fails with the log if the process ends or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        self.process.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Lab(Server):
    """A running JupyterLab: `url(path)` gives an address with the token."""

    name = "JupyterLab"

    def __init__(self, home: Path):
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.root = home / "root"
        shutil.copytree(ROOT / "notebooks", self.root / "notebooks")
        (home / "workspaces").mkdir()
        env = jupyter_env(home)
        for plugin, values in LAB_SETTINGS.items():
            path = home / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        (home / "config" / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "LabApp": {
                        "news_url": None,
                        "check_for_updates_class": (
                            "jupyterlab.handlers.announcements.NeverCheckForUpdate"
                        ),
                    },
                    # as `make lab`: kernel websockets without Nagle's delay
                    "ServerApp": {"jpserver_extensions": {"tools.jupyter_nodelay": True}},
                }
            )
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self.start(home, command, env, cwd=self.root)
        self.wait_until_up(self.url("api/status"))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"


class Voila(Server):
    """A running Voila serving one notebook of `notebooks/` at `url` (no token: Voila has
    none), its Jupyter folders in `home`, kernels in fast mode unless `fast=False`."""

    name = "Voila"

    def __init__(self, home: Path, notebook: str, fast: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [
            sys.executable,
            "-m",
            "voila",
            str(ROOT / "notebooks" / notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={self.port}",
            # as `make demo` serves it: the page while the start-up cell runs, and no pings
            # (Voila reads no pong while a cell runs, and would drop the page after 90 s)
            "--VoilaConfiguration.progressive_rendering=True",
            '--Voila.tornado_settings={"ws_ping_interval": 0}',
        ]
        self.start(home, command, jupyter_env(home, fast), cwd=ROOT / "notebooks")
        # the static files answer at once; the page itself waits for the notebook to run
        self.wait_until_up(f"{self.url}voila/static/voila.js", timeout=60)


def require_browser() -> None:
    reason = why_no_browser()
    if reason is not None:
        pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {reason}")


@pytest.fixture(scope="session")
def lab():
    require_browser()
    with tempfile.TemporaryDirectory(prefix="course-lab-") as home:
        server = Lab(Path(home))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def gallery():
    """Voila serving the demo gallery, notebooks/gallery.ipynb, in fast mode."""
    require_browser()
    with tempfile.TemporaryDirectory(prefix="course-voila-") as home:
        server = Voila(Path(home), "gallery.ipynb")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser_context():
    require_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path(),
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 1600},
            )
            try:
                yield context
            finally:
                context.close()


# Round-trip figures gathered by the tests, printed at the end and kept for `tools.bench`.
# Under pytest-xdist each worker hands its figures to the controller (see ../../conftest.py),
# which keeps and prints them all; run in one process, this conftest does it itself.
LATENCIES: list[dict] = []


@pytest.fixture(scope="session")
def latencies():
    return LATENCIES


def pytest_sessionfinish(session):
    if not LATENCIES:
        return
    if hasattr(session.config, "workeroutput"):  # an xdist worker
        session.config.workeroutput["latencies"] = json.dumps(LATENCIES)
    else:
        from tools.bench import save_latencies

        save_latencies(LATENCIES)


def pytest_terminal_summary(terminalreporter):
    if LATENCIES and not hasattr(terminalreporter.config, "workeroutput"):
        from tools.bench import latency_summary

        for line in latency_summary(LATENCIES):
            terminalreporter.write_line(line)
