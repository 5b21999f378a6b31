"""What a step adds: the unified diff of two step files, as the lessons show it at their end.

    python scripts/step_diff.py steps/03_client.py steps/04_hub.py

tests/test_lessons.py checks that each lesson's ```diff block is still what this prints.
"""

import difflib
import sys
from pathlib import Path

CONTEXT = 1  # unchanged lines shown around each change


def step_diff(old, new):
    """The lines of the diff from file `old` to file `new` (paths as given)."""
    return difflib.unified_diff(
        Path(old).read_text(encoding="utf-8").splitlines(keepends=True),
        Path(new).read_text(encoding="utf-8").splitlines(keepends=True),
        fromfile=old,
        tofile=new,
        n=CONTEXT,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/step_diff.py OLD NEW")
    sys.stdout.writelines(step_diff(*sys.argv[1:]))
