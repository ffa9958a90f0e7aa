"""Running the ``dvc`` command line from a stage command (``compare``, ``report``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stages.errors import PipelineError


def dvc(*args: str, capture: bool = False) -> str:
    """Run ``dvc ARGS`` with this Python's environment first on PATH (dvc.yaml runs ``python``).

    With ``capture`` the output is returned; otherwise it streams to the terminal. A
    failure is a PipelineError naming the command and dvc's last line of error.
    """
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(["dvc", *args], env=env, text=True, capture_output=capture)
    if done.returncode:
        detail = (done.stderr or "").strip().splitlines()[-1:] if capture else []
        raise PipelineError(f"`dvc {' '.join(args)}` failed with status {done.returncode} {' '.join(detail)}".strip())
    return done.stdout if capture else ""


def dvc_json(*args: str):
    """Run ``dvc ARGS --json`` and parse what it prints."""
    return json.loads(dvc(*args, "--json", capture=True) or "null")
