"""The simulation app is a development tool: no production module imports it (issue 16)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("optimus_site", "devices", "recommender", "campaigns")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", PRODUCTION)
def test_production_code_never_imports_simulation(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "simulation")
        for path in (ROOT / app).rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts  # tests may drive the simulation and its gateway
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_scan_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from simulation.world import World\n    import simulation.gateways.fcm\n")
    assert imported_modules(source) == {"simulation.world", "simulation.gateways.fcm"}
