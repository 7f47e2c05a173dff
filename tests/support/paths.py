"""Where the project and its scripts are."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack" / "stack.sh"
