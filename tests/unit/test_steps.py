"""What a step's process writes goes to its rule log, C code's writes to file descriptor 1 included."""

import os
import subprocess
import sys


def test_c_level_stdout_goes_to_the_log_and_comes_back(tmp_path):
    log = tmp_path / "step.log"
    code = f"""
import os
from mdflow.steps import c_stdout_to
with open({str(log)!r}, "a", buffering=1) as handle:
    with c_stdout_to(handle):
        os.write(1, b"dcdplugin) detected standard 32-bit DCD file\\n")
os.write(1, b"after\\n")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert log.read_text() == "dcdplugin) detected standard 32-bit DCD file\n"
    assert result.stdout == "after\n"
