"""The registry that puts the three roles together (conversations/registry.py).

- every domain event is told to someone or listed as deliberately silent, with a reason;
- the flow and step names stored in conversation state stay exactly what they were: an unknown
  name resets that person's conversation;
- a flow's name is written once, in its own module: everyone else imports its ``NAME``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import conversations
from conversations.flow import Flow
from conversations.registry import REGISTRY
from domain import events

CODE = Path(conversations.__file__).parent

# Stored in ConversationState.flow / .step for conversations in progress. Renaming one is a data
# migration, not a refactoring: change this table only together with one.
PERSISTED: dict[str, set[str]] = {
    "better_photos": {"photos", "which"},
    "delivery": {"job", "method", "quantity", "slot"},
    "materials": {"amount", "job", "kind", "material", "mine"},
    "material_decline": {"reason"},
    "menu": {"home"},
    "new_order": {"confirm", "customer", "due", "kind", "lines", "new_customer", "reference"},
    "offer_decline": {"reason"},
    "offer_part": {"how_many"},
    "offers": {"act", "pick"},
    "qc": {"note", "passed", "photos_note", "reasons", "verdict"},
    "question_reply": {"answer"},
    "ship_order": {"carrier"},
    "receipt": {"count", "note"},
    "receipt_pick": {"delivery"},
    "receipt_qc": {"passed", "reason"},
    "registration": {
        "area",
        "area_confirm",
        "capacity",
        "confirm",
        "language",
        "mpesa",
        "name",
        "prior_income",
        "skills",
        "women_led",
        "workshop",
    },
    "optional_answers": {"prior_income", "review", "women_led"},
    "submit_photos": {"confirm", "count", "photos"},
    "approve_payouts": {"confirm"},
    "broadcast": {"confirm"},
    "cancel_order": {"confirm"},
    "submit_work": {"job"},
    "talk_to_person": {"write"},
    "visit": {"done_so_far", "note", "photos"},
    "visit_pick": {"allocation"},
}


def _event_types() -> set[type[events.Event]]:
    """Every event ``domain.events`` defines (read from the module: a slotted dataclass leaves
    its first class behind in ``Event.__subclasses__()``)."""
    return {
        value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, events.Event) and value is not events.Event
    }


def test_every_domain_event_is_told_to_someone_or_deliberately_silent() -> None:
    undecided = _event_types() - set(REGISTRY.notices) - set(REGISTRY.silent)
    assert not undecided, (
        "tell someone in a role's notices.py, or list it in conversations/registry.py's SILENT "
        f"with the reason: {sorted(e.__name__ for e in undecided)}"
    )
    assert all(reason.strip() for reason in REGISTRY.silent.values())
    assert not set(REGISTRY.notices) & set(REGISTRY.silent)


def test_the_persisted_flow_and_step_names_are_unchanged() -> None:
    assert {name: set(flow.steps) for name, flow in REGISTRY.flows.items()} == PERSISTED
    assert all(name == flow.name for name, flow in REGISTRY.flows.items())


def test_each_role_menu_item_has_an_action_or_says_coming_soon_and_no_key_repeats() -> None:
    for role, items in REGISTRY.menus.items():
        keys = [item.key for item in items]
        assert len(keys) == len(set(keys)), role


# --- flow names are written once ---------------------------------------------------------------

_FLOW_NAMES = frozenset(REGISTRY.flows)
# Where a string is a flow name: the flow a Start begins, a Flow's or a picker's name, the flow a
# picker starts, the flows a command closes, a flow the engine enters, a comparison with a state.
_NAMING_CALLS = frozenset({"Start", "Flow", "pick_one_flow", "Transitions", "_enter", "enter"})
_NAMING_KEYWORDS = frozenset({"flow", "name", "target_flow", "closes"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(CODE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _flow_name(node: ast.AST) -> str | None:
    """The flow name ``node`` is, when it is a string constant naming a flow."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _FLOW_NAMES:
        return node.value
    return None


def _flow_names_in(nodes: list[ast.AST]) -> list[str]:
    return [name for node in nodes if (name := _flow_name(node)) is not None]


def _flows_built_in(module_name: str) -> set[str]:
    """The names of the flows a module builds: its module-level ``Flow`` objects, or for a
    module that builds its flow in a function (the menu) the name it is registered under."""
    module = importlib.import_module(module_name)
    built = {value.name for value in vars(module).values() if isinstance(value, Flow)}
    named = getattr(module, "NAME", None)
    if isinstance(named, str) and "Flow(" in Path(str(module.__file__)).read_text():
        built.add(named)
    return built


def _copies_in(tree: ast.Module, module_name: str, built: set[str]) -> list[str]:
    """Flow names written as strings in ``tree``, but for those of the flows ``built`` there."""
    found: list[str] = []
    for statement in tree.body:  # a module-level constant holding a flow name
        value = getattr(statement, "value", None)
        if isinstance(statement, ast.Assign | ast.AnnAssign) and value is not None:
            found += [
                f"{module_name}:{statement.lineno} assigns {name!r}"
                for name in _flow_names_in([value])
                if name not in built
            ]
    for node in ast.walk(tree):
        places: list[ast.AST] = []
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called in _NAMING_CALLS:
                places += node.args
            for keyword in node.keywords:
                if keyword.arg == "closes":  # a collection of flow names
                    places += list(ast.walk(keyword.value))
                elif keyword.arg in _NAMING_KEYWORDS:
                    places.append(keyword.value)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Attribute) and side.attr == "flow" for side in sides):
                places += [sub for side in sides for sub in ast.walk(side)]
        line = getattr(node, "lineno", 0)
        found += [f"{module_name}:{line} names {n!r}" for n in _flow_names_in(places)]
    return found


def _copies(path: Path) -> list[str]:
    module_name = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _copies_in(tree, module_name, _flows_built_in(module_name))


def test_a_flow_name_is_written_only_in_its_own_module() -> None:
    copies = [copy for path in sorted(CODE.rglob("*.py")) for copy in _copies(path)]
    assert not copies, "import the flow module's NAME instead: " + "; ".join(copies)


def test_the_scan_finds_flow_names_copied_but_not_the_same_words_used_otherwise() -> None:
    source = (
        'QC_FLOW = "qc"\n'
        'Start("receipt", {"delivery": 7})\n'
        'if state.flow == "visit":\n'
        '    ctx.data["delivery"] = 1\n'
        'MENU = (MenuItem("offers", N_("menu.item.offers"), start),)\n'
        'NAME = "materials"\n'
        'OFFERS = Command(roles, run, usage, closes=frozenset({"offers", "offer_part"}))\n'
    )
    found = _copies_in(ast.parse(source), "conversations.example", built={"materials"})
    assert found == [
        "conversations.example:1 assigns 'qc'",
        "conversations.example:2 names 'receipt'",
        "conversations.example:3 names 'visit'",
        "conversations.example:7 names 'offers'",
        "conversations.example:7 names 'offer_part'",
    ]
