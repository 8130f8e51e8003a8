"""Workflow diagrams drawn by `transitions`' own diagram support from the engine's machine spec,
so the picture is the machine that runs, not a separate drawing.

SVG needs Graphviz's `dot` program (Debian package `graphviz`); Mermaid text needs nothing.
"""

import shutil

from django.utils.translation import gettext as _
from transitions.extensions.diagrams import GraphMachine

from core.errors import DomainError
from workflows.engine import build_spec
from workflows.models import TemplateVersion, WorkflowTemplate


class DiagramUnavailable(DomainError):
    code = "diagram_unavailable"
    status_code = 503


def _safe(state: str) -> str:
    # Mermaid identifiers cannot hold ':' and dot reads it as a port: "design:ready" is drawn "design__ready".
    return state.replace(":", "__").replace("-", "_")


def version_for_diagram(template: WorkflowTemplate, number) -> TemplateVersion:
    versions = template.versions.all()
    if number not in (None, ""):
        try:
            version = versions.filter(number=int(number)).first()
        except (TypeError, ValueError):
            version = None
        if version is None:
            raise DomainError(_("No such version."), code="invalid", errors={"version": ["No such version."]})
        return version
    version = versions.filter(status=TemplateVersion.Status.DRAFT).first() or versions.order_by("-number").first()
    if version is None or not version.stages.exists():
        raise DomainError(_("The template has no stages to draw yet."), code="empty_template")
    return version


def _graph_machine(version: TemplateVersion, engine: str) -> GraphMachine:
    spec = build_spec(list(version.stages.order_by("position")))
    states = [_safe(s) for s in spec.states]
    transitions = []
    for t in spec.transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        if t["trigger"] == "cancel":
            continue  # every state can be cancelled; drawing it would hide the flow
        item = {"trigger": t["trigger"], "source": [_safe(s) for s in sources], "dest": _safe(t["dest"])}
        for key in ("conditions", "unless"):
            if key in t:
                item[key] = t[key]
        transitions.append(item)

    class _Model:
        pass

    model = _Model()
    GraphMachine(
        model=model,
        states=states,
        transitions=transitions,
        initial=_safe(spec.initial),
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=True,
        title=f"{version} (cancel possible from every open state)",
    )
    return model


def mermaid(version: TemplateVersion) -> str:
    return _graph_machine(version, "mermaid").get_graph().draw(None)


def svg(version: TemplateVersion) -> bytes:
    if shutil.which("dot") is None:
        raise DiagramUnavailable("Graphviz is not installed on the server; ask for ?format=mermaid instead.")
    graph = _graph_machine(version, "graphviz").get_graph()
    graph.graph_attr.update(rankdir="TB")
    return graph.pipe(format="svg")
