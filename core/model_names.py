"""The admin's names of models and fields, translated without a migration.

A field or model with no `verbose_name` of its own is named by Django from its Python name ("total amount",
"service order"). Writing `verbose_name=_(...)` on each would change every model's migration state (Django
records verbose names) in every app at once. Instead, at start, each such derived name is wrapped in gettext_lazy
(the migration state reads the names given in code, not these), and the catalogue extractor lists the same names
under the model's app (`derived_names`), so they are translated and checked like any other string.
A name given in code (`verbose_name=_("...")`) is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import translation
from django.utils.translation import gettext_lazy


def _is_project_app(config) -> bool:
    from pathlib import Path

    from core.catalogues import BASE_DIR  # the same rule as the catalogues'

    path = Path(config.path).resolve()
    return path.is_relative_to(BASE_DIR) and ".venv" not in path.parts


def _derived(model) -> Iterator[tuple[object, str, str]]:
    """(owner, attribute, derived English name) of a model's names that its code does not give."""
    with translation.override(None):  # the English names, also once they are wrapped
        yield from list(_names(model))


def _names(model) -> Iterator[tuple[object, str, str]]:
    meta = model._meta
    if "verbose_name" not in meta.original_attrs:
        yield meta, "verbose_name", str(meta.verbose_name)
    if "verbose_name_plural" not in meta.original_attrs:
        yield meta, "verbose_name_plural", str(meta.verbose_name_plural)
    for field in meta.local_fields + meta.local_many_to_many:
        if getattr(field, "_verbose_name", None) is None and field.name != "id":
            yield field, "verbose_name", str(field.verbose_name)


def derived_names(config) -> Iterator[tuple[str, str]]:
    """(derived English name, "<app>/models.py:<Model>") of an app's models, for the catalogue."""
    for model in config.get_models():
        if model._meta.auto_created:
            continue
        for _owner, _attr, name in _derived(model):
            yield name, f"{config.label}/models.py:{model.__name__}"


def translate_derived_names() -> None:
    """Wrap every derived name of the project's models in gettext_lazy (CoreConfig.ready)."""
    from django.apps import apps

    for config in apps.get_app_configs():
        if not _is_project_app(config):
            continue
        for model in config.get_models():
            if model._meta.auto_created:
                continue
            for owner, attr, name in list(_derived(model)):
                setattr(owner, attr, gettext_lazy(name))
