"""Running one measurement in a process of its own: for peak memory (a process's peak resident
set is its own) and for compile times (a fresh process has no compiled code in memory, only the
on-disk cache it is given)."""

import json
import os
import subprocess
import sys
from typing import Any

# The child imports the function by name, calls it with the JSON keyword arguments and prints
# its JSON result as the last line.
_CHILD = (
    "import importlib, json, sys; "
    "module, name = sys.argv[1].rsplit('.', 1); "
    "result = getattr(importlib.import_module(module), name)(**json.loads(sys.argv[2])); "
    "print(json.dumps(result))"
)


def run_isolated(function: str, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """``function(**kwargs)`` (a dotted path; JSON arguments and result) in a new Python process
    with this one's threads and ``env`` added to its environment.

    Raises:
        RuntimeError: the child failed; the message ends with its last line of error output.
    """
    child_env = {**os.environ, "OMP_NUM_THREADS": str(_threads()), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, function, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=child_env,
        check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise RuntimeError(f"benchmark: {function} failed in its own process: {lines[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _threads() -> int:
    import torch

    return torch.get_num_threads()
