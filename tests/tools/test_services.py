"""Every service is made one way (serving/base.py): an unguarded service, or an answer that does not say which model
gave it, cannot be written by forgetting a line."""

import ast

from medmaas.environment import PROJECT_ROOT

SERVICES = sorted(
    p for p in (PROJECT_ROOT / "serving").glob("*.py") if p.name not in ("__init__.py", "base.py", "guard.py")
)


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def test_only_the_base_makes_a_bentoml_service_or_puts_the_guard_in_front():
    for path in SERVICES:
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "service"
                and isinstance(node.value, ast.Name)
                and node.value.id == "bentoml"
            ):
                raise AssertionError(
                    f"{path.name}:{node.lineno} uses bentoml.service: use serving.base.champion_service (it adds the "
                    "guard)"
                )
            if isinstance(node, ast.Name) and node.id in ("protect", "SERVICE_CONFIG"):
                raise AssertionError(
                    f"{path.name}:{node.lineno} names {node.id}: serving.base.champion_service applies it"
                )


def test_every_service_class_is_a_champion_service():
    services = 0
    for path in SERVICES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Service"):
                services += 1
                decorators = [
                    d.func.id for d in node.decorator_list if isinstance(d, ast.Call) and isinstance(d.func, ast.Name)
                ]
                assert decorators == ["champion_service"], f"{path.name}: {node.name} is not made by champion_service"
    assert services == 7


def test_no_answer_declares_its_own_model_and_version():
    for path in SERVICES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                fields = {
                    item.target.id
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
                assert not {"model", "version"} <= fields, (
                    f"{path.name}: {node.name} declares model and version: derive from serving.base.Answer"
                )
