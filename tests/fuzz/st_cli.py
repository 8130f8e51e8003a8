"""schemathesis' ``st`` command, with CPython bug gh-106905 kept out of its worker threads (tests/fuzz/run_fuzz.py).

    .venv/bin/python tests/fuzz/st_cli.py run ...      # the same arguments as .venv/bin/st

On CPython 3.11.0-3.11.7 and 3.12.0-3.12.1, turning a parsed tree into ``ast`` objects (``ast.parse``, i.e.
``compile(..., ast.PyCF_ONLY_AST)``) counts its recursion depth in one counter per interpreter, not per call.
A garbage collection during the conversion runs Python code (hypothesis registers a ``gc`` callback), which may
hand the GIL to another thread; if that thread parses too, it resets the counter and the first parse fails with
``SystemError: AST constructor recursion depth mismatch`` (fixed in 3.11.8 and 3.12.2: python/cpython#113035).
schemathesis runs ``--workers`` as threads, and hypothesis parses source in them while it draws data (filter
bounds, lambda descriptions, function digests): hundreds of parses per role, and one CI run failed on it. A
higher recursion limit does not help (the counter is not exceeded, it is overwritten). So, on those versions only,
builtins.compile is wrapped so that one thread at a time builds ``ast`` objects; everything else runs as before.
"""

from __future__ import annotations

import ast
import builtins
import sys
import threading
from collections.abc import Callable

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (3, 12) <= sys.version_info[:3] < (3, 12, 2)


def serialized_ast_compile(compile_: Callable) -> Callable:
    """``compile_`` with every ``ast.PyCF_ONLY_AST`` call (``ast.parse`` and its callers) made in one thread at a time.

    Re-entrant: a parse started by a ``gc`` callback or finalizer inside a parse on the same thread goes through.
    """
    lock = threading.RLock()

    def compile(source, filename, mode, flags=0, *args, **kwargs):  # noqa: A001 - stands in for the builtin
        if flags & ast.PyCF_ONLY_AST:
            with lock:
                return compile_(source, filename, mode, flags, *args, **kwargs)
        return compile_(source, filename, mode, flags, *args, **kwargs)

    compile.__wrapped__ = compile_
    return compile


def main() -> int:
    if AFFECTED:
        builtins.compile = serialized_ast_compile(builtins.compile)
    from schemathesis.cli import schemathesis

    sys.argv[0] = "st"
    return schemathesis()


if __name__ == "__main__":
    sys.exit(main())
