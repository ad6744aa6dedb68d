"""Shared test setup: no downloads, a private torch hub cache, and the repository on sys.path."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tests never reach for the network, and a developer's own torch hub cache must not change
# what they see: point TORCH_HOME at an empty folder unless a test sets its own.
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", str(ROOT / ".pytest_cache" / "torch_home"))
