"""The code's shape (issue 16, docs/architecture.md), checked on the source itself.

- No app looks another app's models up by name: no `get_model(...)` call in product code, and a string
  model reference ("payments.Installment" in a ForeignKey, a lazy relation...) only to an app the layers
  contract of pyproject.toml lets the referring app import (a lower layer). lint-imports sees imports,
  not strings: this test closes that gap.
- No product module is longer than MAX_LINES (the aim is ~400: split by concern).

Product code is the packages of the layers contract and `config/`; migrations, `tests/` and `bench/` are not.
Known exceptions are listed below with the count they may not exceed; each must go once the code is fixed
(a test fails while an entry is no longer needed).
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
MAX_LINES = 450

# `get_model(` calls left on 2026-12-02 (b2220a8), by module: what the app needs should come through
# workflows.hooks instead. Delete the entry once the call is gone.
KNOWN_GET_MODEL: dict[str, int] = {}


@cache
def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@cache
def layers() -> dict[str, int]:
    """Each product package's layer in the import-linter layers contract (0: the top)."""
    (contract,) = [c for c in _pyproject()["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return {app.strip(): depth for depth, layer in enumerate(contract["layers"]) for app in re.split(r"[|:]", layer)}


def app_packages() -> list[str]:
    return list(_pyproject()["tool"]["importlinter"]["root_packages"])


def _modules(packages) -> list[Path]:
    found = []
    for package in packages:
        found += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts]
    return sorted(found)


def product_modules() -> list[Path]:
    return _modules([*app_packages(), "config"]) + sorted(ROOT.glob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def get_model_calls(tree: ast.AST) -> list[int]:
    """Line numbers of `get_model(...)` / `<anything>.get_model(...)` calls."""
    return [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "get_model")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "get_model"))
    ]


def model_labels() -> dict[str, str]:
    """"app_label.modelname" (lower case) of every model of the product packages -> its app."""
    ours = set(app_packages())
    return {model._meta.label_lower: model._meta.app_label
            for model in apps.get_models(include_auto_created=True) if model._meta.app_label in ours}


def string_model_references(tree: ast.AST, labels: dict[str, str]) -> list[tuple[int, str, str]]:
    """(line, the string, the model's app) of each string constant that names a model, e.g. "payments.Installment"."""
    found = []
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
        if re.fullmatch(r"\w+\.\w+", text) and (target := labels.get(text.lower())) is not None:
            found.append((node.lineno, text, target))
    return found


def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# --- no lookups of other apps' models by name ------------------------------------------------------------


def test_the_checks_see_what_they_look_for():
    """The detectors themselves: a lookup by name and a string reference are found, in every spelling."""
    tree = ast.parse(
        'from django.apps import apps\n'
        'a = apps.get_model("payments", "Installment")\n'
        'b = get_model("payments.Installment")\n'
        'c = models.ForeignKey("payments.Installment", on_delete=models.CASCADE)\n'
        'd = models.ForeignKey(to="workflows.serviceorder", on_delete=models.CASCADE)\n'
        'e = "payments installment"  # prose, not a reference\n'
    )
    assert get_model_calls(tree) == [2, 3]
    assert [(line, target) for line, _, target in string_model_references(tree, model_labels())] == [
        (3, "payments"), (4, "payments"), (5, "workflows")]


def test_no_get_model_in_product_code():
    """`apps.get_model(...)` reaches another app's models around the layers contract: what an app needs of another
    comes through the engine's extension points (workflows/hooks.py) or order-detail sections."""
    calls = {}
    for path in _modules(app_packages()):
        if lines := get_model_calls(_parse(path)):
            calls[_rel(path)] = lines
    unexpected = {module: lines for module, lines in calls.items() if len(lines) > KNOWN_GET_MODEL.get(module, 0)}
    assert not unexpected, f"get_model() in product code (module: lines): {unexpected}"
    fixed = {module for module, count in KNOWN_GET_MODEL.items() if len(calls.get(module, ())) < count}
    assert not fixed, f"fewer get_model() calls than listed in KNOWN_GET_MODEL now: lower or delete {fixed}"


def test_string_model_references_point_only_to_lower_layers():
    """A model named by a string ("payments.Installment") from another app is a dependency lint-imports cannot see:
    only an app in a lower layer of the contract may be named so (as it may be imported)."""
    labels, depth = model_labels(), layers()
    checked, wrong = 0, []
    for app in app_packages():
        for path in _modules([app]):
            for line, text, target in string_model_references(_parse(path), labels):
                checked += 1
                if target != app and not depth[target] > depth[app]:
                    wrong.append(f"{_rel(path)}:{line} names {text!r} ({target} is not below {app})")
    assert checked, "no string model reference found at all: the check is not reading the code"
    assert not wrong, "string references to models of apps the layers contract does not allow:\n" + "\n".join(wrong)


def test_every_app_package_is_in_the_layers_contract():
    """A new app outside the contract would escape both lint-imports and the check above."""
    ours = {config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT}
    missing = ours - set(app_packages())
    assert not missing, f"apps missing from root_packages in pyproject.toml: {missing}"
    assert set(app_packages()) <= set(layers()), "root packages missing from the layers contract"


# --- module size ---------------------------------------------------------------------------------------


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_product_module_over_the_limit():
    modules = product_modules()
    assert any(_rel(p) == "workflows/hooks.py" for p in modules) and not any("migrations" in _rel(p) for p in modules)
    over = {_rel(p): n for p in modules if (n := _line_count(p)) > MAX_LINES}
    assert not over, f"product modules over {MAX_LINES} lines (split them by concern): {over}"
