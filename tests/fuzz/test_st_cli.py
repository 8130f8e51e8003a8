"""tests/fuzz/st_cli.py: schemathesis' threads build ``ast`` objects one at a time (CPython gh-106905)."""

import ast
import builtins
import difflib
import gc
import threading
import time
from pathlib import Path

from tests.fuzz.st_cli import serialized_ast_compile


def _in_threads(target, count=4):
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_ast_compiles_run_one_at_a_time_and_other_compiles_are_left_alone():
    running, most, lock = {"ast": 0}, {"ast": 0}, threading.Lock()
    # Every thread's code compile waits for all four to be inside at once: it breaks (and the test fails) if the
    # wrapper serialized them too. (Counting overlaps with a sleep failed under load: a scheduler can happen
    # to run sleeping compiles one after another.)
    all_compiling_code = threading.Barrier(4, timeout=10)
    broken = []

    def slow_compile(source, filename, mode, flags=0, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            try:
                all_compiling_code.wait()
            except threading.BrokenBarrierError:
                broken.append(threading.get_ident())
            return "code"
        with lock:
            running["ast"] += 1
            most["ast"] = max(most["ast"], running["ast"])
        time.sleep(0.02)
        with lock:
            running["ast"] -= 1
        return "ast"

    compile_ = serialized_ast_compile(slow_compile)
    results = []
    _in_threads(lambda: results.extend(compile_("x", "<s>", "exec", flags) for flags in (0, *[ast.PyCF_ONLY_AST] * 3)))
    assert most["ast"] == 1
    assert broken == []
    assert sorted(results) == ["ast"] * 12 + ["code"] * 4


def test_a_parse_inside_a_parse_on_the_same_thread_does_not_deadlock():
    calls = []

    def compile_(source, filename, mode, flags=0, **kwargs):
        calls.append(source)
        if source == "outer":
            wrapped("inner", filename, mode, flags)  # e.g. from a gc callback during the outer parse
        return source

    wrapped = serialized_ast_compile(compile_)
    assert wrapped("outer", "<s>", "exec", ast.PyCF_ONLY_AST) == "outer"
    assert calls == ["outer", "inner"]


def test_ast_parse_goes_through_the_wrapped_builtin(monkeypatch):
    seen = []
    original = builtins.compile

    def recording(source, filename, mode, flags=0, *args, **kwargs):
        seen.append(bool(flags & ast.PyCF_ONLY_AST))
        return original(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", serialized_ast_compile(recording))
    assert isinstance(ast.parse("lambda x: x > 0"), ast.Module)
    assert ast.literal_eval("[1, 2]") == [1, 2]
    assert seen == [True, True]


def test_threads_parsing_while_gc_runs_python_code_get_no_system_error(monkeypatch):
    # cpython#106905's reproducer, shortened: on 3.11.7 without the wrapper it fails within the first round.
    def gc_callback(phase, info):
        list(difflib.unified_diff([f"{i}\n" for i in range(50)], [f"{i % 7}\n" for i in range(50)]))

    monkeypatch.setattr(builtins, "compile", serialized_ast_compile(builtins.compile))
    source = Path(difflib.__file__).read_text()
    errors = []

    def parse():
        try:
            for _ in range(3):
                ast.parse(source)
        except SystemError as exc:
            errors.append(exc)

    gc.callbacks.append(gc_callback)
    try:
        _in_threads(parse, count=6)
    finally:
        gc.callbacks.remove(gc_callback)
    assert errors == []
