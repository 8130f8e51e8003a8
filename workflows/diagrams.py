"""Workflow diagrams. Mermaid text is drawn by `transitions`' own diagram support from the engine's machine spec
(the machine that runs, engine state names and all: for developers). The SVG is the merchant's picture, drawn in
plain Python by workflows.flow_svg (stage names and what each involves, optionally coloured by live orders):
no Graphviz binary, nothing to install.
"""

from django.utils.translation import gettext as _
from transitions.extensions.diagrams import GraphMachine

from core.errors import DomainError
from workflows.engine import build_spec
from workflows.flow_svg import flow_svg
from workflows.models import TemplateVersion, WorkflowTemplate


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


def svg(version: TemplateVersion, *, counts=None, link=None) -> bytes:
    """The version's stages as SVG (workflows.flow_svg), with live order counts when given."""
    return flow_svg(list(version.stages.all()), title=str(version), counts=counts, link=link).encode()
