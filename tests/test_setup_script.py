"""`./test` on a machine that lacks the system programs the tests need, run by a user who cannot
install them: it names the packages and the one command to run, and stops before anything else."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as nobody")
def test_missing_system_programs_are_named_with_the_command_to_install_them(tmp_path):
    """Thrown at it: a PATH with none of flite, sipp, tshark, chromium or chromedriver, and the
    unprivileged user `nobody`. Holds: exit status 2, the Debian package names and the apt-get line
    on stderr, and no virtualenv touched."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    tmp_path.chmod(0o755)
    result = subprocess.run(
        [shutil.which("runuser"), "-u", "nobody", "--", "/bin/bash", str(ROOT / "test"), "--version"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    for package in ("flite", "sip-tester", "tshark", "chromium", "chromium-driver"):
        assert package in result.stderr
    assert "sudo apt-get install -y" in result.stderr and "then run ./test again" in result.stderr
    assert "pytest" not in result.stdout
