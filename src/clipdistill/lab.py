"""``clipdistill lab`` (and ``make lab``): JupyterLab on the chapters, to read beside the book.

A chapter run by hand must resolve as ``clipdistill run`` resolves it: the same profile,
data, caches and results folders. ``make`` hands the same ``PROFILE`` and ``DATA_ROOT``
to both commands; this one passes them to every kernel it starts through
:data:`clipdistill.session.SETTINGS_ENV`, which ``cd.setup`` reads.

JupyterLab is kept off the network (no news feed, update check or extension listing from
PyPI) and out of the project: its settings and workspaces live in a temporary folder
that is removed when it stops. Saving a chapter keeps the reader's edits in
``notebooks/`` but not its outputs (:func:`keep_sources_clean`): the sources stay as they
are committed, and the outputs of a run live in ``results/`` and in the book.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator, TextIO

from .config import PROFILE_NAMES, ConfigError
from .session import settings_environment
from .suggest import did_you_mean

__all__ = ["DEFAULT_PORT", "keep_sources_clean", "lab_command", "lab_environment", "pick_port",
           "run_lab"]

DEFAULT_PORT = 8888  # Jupyter's own; a free one is picked when it is taken
READY_TIMEOUT_S = 120.0
# JupyterLab's own notification settings: no news, no "a newer version is available".
KERNEL_METADATA = ("kernelspec", "language_info")  # what a save would stamp with the live kernel's
QUIET_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                  {"fetchNews": "false", "checkForUpdates": False}}


def pick_port(wanted: int = DEFAULT_PORT) -> int:
    """``wanted`` when nothing listens on it on this machine, else a free port (0: any)."""
    for port in ((wanted, 0) if wanted else (0,)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free TCP port on 127.0.0.1")


def lab_command(root: Path, port: int, token: str, state: Path, *, open_browser: bool) -> list[str]:
    """JupyterLab from this environment (so its ``python3`` kernel is this Python), serving
    ``root`` on 127.0.0.1 with the file browser on ``notebooks/``."""
    return [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.open_browser={open_browser}",
        "--log-level=WARN",
        "--LabApp.log_level=WARN",  # its start-up lines too
        "--LabApp.default_url=/lab/tree/notebooks",
        f"--LabApp.user_settings_dir={state / 'settings'}",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ContentsManager.pre_save_hook=clipdistill.lab.keep_sources_clean",
        *(["--ServerApp.allow_root=True"] if os.name == "posix" and os.geteuid() == 0 else []),
    ]


def keep_sources_clean(model: dict[str, Any], path: str, contents_manager: Any = None,
                       **_: Any) -> None:
    """jupyter_server's pre-save hook: a notebook under ``notebooks/`` is saved without
    outputs or execution counts, and with the kernel metadata it had on disk (the running
    kernel's Python version is not the chapter's); edits to its code and prose are kept."""
    path = path.lstrip("/")
    if model.get("type") != "notebook" or not path.startswith("notebooks/"):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    if contents_manager is None:
        return
    on_disk = Path(contents_manager.root_dir) / path
    try:
        kept = json.loads(on_disk.read_text()).get("metadata", {})
    except (OSError, ValueError):
        return  # a new notebook: nothing to keep
    metadata = model["content"].setdefault("metadata", {})
    metadata.update({k: kept[k] for k in KERNEL_METADATA if k in kept})


def lab_environment(profile: str, data_root: str | None, state: Path) -> dict[str, str]:
    """This process's environment, plus the run settings for the kernels; this Python's
    scripts first on PATH (JupyterLab's terminals then run this ``clipdistill``); Jupyter's
    runtime files (connection files, the server list) in ``state``."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, **settings_environment(profile, data_root), "PATH": path,
            "JUPYTER_RUNTIME_DIR": str(state / "runtime")}


def _write_quiet_settings(state: Path) -> None:
    for name, values in QUIET_SETTINGS.items():
        path = state / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_until_ready(proc: subprocess.Popen, url: str, timeout: float = READY_TIMEOUT_S) -> None:
    """Until the server answers ``url`` (its status API); fail when it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {proc.returncode} before it "
                               "answered (its messages are above).")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer at {url.split('?')[0]} within {timeout:.0f} s.")


@contextlib.contextmanager
def _state_dir() -> Iterator[Path]:
    state = Path(tempfile.mkdtemp(prefix="clipdistill-lab-"))
    try:
        yield state
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> int:
    """Stop JupyterLab as Ctrl-C would (it shuts its kernels down), then harder if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server as Ctrl-C does


def run_lab(root: Path, profile: str = "auto", data_root: str | None = None, *,
            port: int = DEFAULT_PORT, open_browser: bool = True, out: TextIO | None = None) -> int:
    """Start JupyterLab on ``root/notebooks``, print where to open it and the book, and
    serve until interrupted (Ctrl-C, SIGTERM). Returns JupyterLab's exit status."""
    out = out or sys.stdout
    root = Path(root).resolve()
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"Unknown profile {profile!r}.{did_you_mean(profile, PROFILE_NAMES)}")
    if data_root and not Path(data_root).expanduser().is_dir():
        raise ConfigError(f"--data-root {data_root} is not a folder: give the folder holding "
                          "PetImages/, cifar10/, mnist/, caltech101/ (or leave it out).")
    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigError("JupyterLab is not installed in this environment: `make setup` "
                          "(or pip install -e .) installs it.")
    if not (root / "notebooks").is_dir():
        raise ConfigError(f"No notebooks/ in {root}: run `clipdistill lab` from the project.")
    token = secrets.token_urlsafe(24)
    port = pick_port(port)
    base = f"http://127.0.0.1:{port}"
    with _state_dir() as state:
        _write_quiet_settings(state)
        # Its own session: Ctrl-C reaches this process only, which stops JupyterLab
        # without the "Shutdown this Jupyter server (y/[n])?" question.
        proc = subprocess.Popen(lab_command(root, port, token, state, open_browser=open_browser),
                                env=lab_environment(profile, data_root, state), cwd=root,
                                start_new_session=True)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            _wait_until_ready(proc, f"{base}/api/status?token={token}")
            _announce(out, root, f"{base}/lab/tree/notebooks?token={token}", profile, data_root)
            return proc.wait()
        except KeyboardInterrupt:
            return _stop(proc)
        except BaseException:
            _stop(proc)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)


def _announce(out: TextIO, root: Path, url: str, profile: str, data_root: str | None) -> None:
    book = root / "_build" / "html" / "index.html"
    shown = book if book.is_file() else f"{book} (not built yet: `make book` builds it)"
    data = Path(data_root).expanduser().resolve() if data_root else "none (downloaded or generated)"
    print(f"\nJupyterLab, on the chapters in {root / 'notebooks'} (Ctrl-C stops it):\n  {url}\n"
          f"The book, to open beside it:\n  {shown}\n"
          f"Its kernels get profile {profile} and data {data}, as `clipdistill run` "
          "would with the same options.\n",
          file=out, flush=True)
