"""Running scheduler commands: the one place the executor starts a scheduler's programs.

Adapters only build argv lists and read answers (executors/adapter.py); everything they ask for is
run here, without a shell, with a timeout.
"""

import subprocess


def run_command(argv: list, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a scheduler command; a hang or a missing binary becomes a failed answer, not an exception."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} timed out after {timeout} s")
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: command not found")
