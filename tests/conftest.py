"""Session-wide test settings."""

from __future__ import annotations

import sys
import traceback

if sys.version_info < (3, 12):
    # CPython 3.11's traceback module calls ast.parse() to place the ^^^ carets under a failing expression.
    # ast.parse() keeps its recursion-depth counter in shared state, so the Pulumi SDK formatting several
    # tracebacks on its thread pool at once (a program that raises under mocks) can corrupt it, and a later
    # ast.parse() — pytest's assertion rewriting of the next imported test module — dies with "SystemError:
    # AST constructor recursion depth mismatch". Tracebacks without carets avoid ast.parse() entirely.
    traceback._extract_caret_anchors_from_line_segment = lambda *args, **kwargs: None  # type: ignore[attr-defined]
