"""pglab's layers (the contract in pyproject.toml's [tool.importlinter]), checked by import-linter:
no module imports from a layer above its own, inside a function either, so no import cycle hides
behind a function-level import."""

import subprocess
import sys
from pathlib import Path

from pglab.config import PROJECT_ROOT


def test_every_import_goes_down_the_layers():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in done.stdout
