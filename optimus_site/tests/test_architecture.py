"""The apps' borders, checked on the source: every module imports on its own, no import cycle, no
model reached by name across apps, dependencies one way (campaigns → recommender → devices), no
production module importing the simulation, and each admin registered once, by the model's own app.

Function-level imports count: an import moved into a function to dodge a cycle is still a dependency.
"""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_PACKAGES = ("devices", "recommender", "campaigns", "optimus_site")
OUR_APPS = ("devices", "recommender", "campaigns")
# Each app may import the ones after it in this list, never the ones before.
LAYERS = ("campaigns", "recommender", "devices")
# django-push-notifications registers its own admins for its models; devices.admin replaces them.
THIRD_PARTY_ADMIN_REPLACED = {"GCMDevice", "APNSDevice", "WebPushDevice", "WNSDevice"}


def production_files() -> list[Path]:
    files = []
    for package in PRODUCTION_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if any("migrations" in part or part == "tests" for part in parts) or path.name.startswith("test_"):
                continue
            files.append(path)
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = production_files()
MODULES = {module_name(path): path for path in FILES}


def imports_of(path: Path, *, module_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file; ``from a import b`` gives
    ``a.b`` when that is one of our modules, else ``a``. Relative imports are resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    if module_level_only:  # statements under `if TYPE_CHECKING:` are not run
        nodes = [n for n in nodes if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.append((candidate if candidate in MODULES else base, node.lineno))
    return out


def app_of(module: str) -> str:
    return module.split(".")[0]


def test_every_production_module_imports_in_a_fresh_process():
    assert len(MODULES) > 50  # the scan found the code
    names = sorted(MODULES)
    script = (
        "import importlib, django, os, sys, traceback\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'optimus_site.settings')\n"
        "django.setup()\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=3))\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_cycle_between_production_modules():
    """Module-level imports among our modules form no cycle (a cycle works or breaks by import order)."""
    graph = {
        name: {target for target, _ in imports_of(path, module_level_only=True) if target in MODULES}
        for name, path in MODULES.items()
    }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" → ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_model_is_reached_by_name_across_apps():
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "get_model" or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            label = str(node.args[0].value).split(".")[0]
            if label != app_of(name):
                found.append(f"{name}:{node.lineno} get_model({label!r}, …)")
    assert found == []


@pytest.mark.parametrize("app", LAYERS)
def test_dependencies_point_one_way(app):
    upstream = set(LAYERS[: LAYERS.index(app)])
    found = [
        f"{name}:{line} imports {target}"
        for name, path in MODULES.items()
        if app_of(name) == app
        for target, line in imports_of(path)
        if app_of(target) in upstream
    ]
    assert found == []


def test_no_production_module_imports_the_simulation():
    found = [
        f"{name}:{line} imports {target}"
        for name, path in MODULES.items()
        for target, line in imports_of(path)
        if app_of(target) == "simulation"
    ]
    assert found == []


def test_the_ml_package_has_no_django():
    found = [
        f"{name}:{line} imports {target}"
        for name, path in MODULES.items()
        if name.startswith("recommender.ml")
        for target, line in imports_of(path)
        if app_of(target) in {"django", "rest_framework", *OUR_APPS} and not target.startswith("recommender.ml")
    ]
    assert found == []


def test_each_model_admin_is_registered_once_by_the_app_that_owns_the_model():
    ours = [model for app in OUR_APPS for model in apps.get_app_config(app).get_models()]
    registered = {
        model: type(admin.site._registry[model]).__module__ for model in ours if model in admin.site._registry
    }
    wrong = {
        model._meta.label: module for model, module in registered.items() if module != f"{model._meta.app_label}.admin"
    }
    assert wrong == {}
    assert set(registered) == set(ours)  # and none is left without an admin

    # In the source: one register() per model, in its own app's admin module, and no unregister()
    # except of the library's own push device admins, which devices replaces.
    owner = {model.__name__: model._meta.app_label for model in ours}
    registrations, unregistered = defaultdict(list), []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            argument = node.args[0]
            models = argument.elts if isinstance(argument, ast.List | ast.Tuple) else [argument]
            for model in (m.id if isinstance(m, ast.Name) else ast.unparse(m) for m in models):
                if node.func.attr == "register" and "admin" in ast.unparse(node.func.value):
                    registrations[model].append(name)
                elif node.func.attr == "unregister" and model not in THIRD_PARTY_ADMIN_REPLACED:
                    unregistered.append(f"{name}:{node.lineno} unregister({model})")
    assert unregistered == []
    misplaced = {
        model: modules
        for model, modules in registrations.items()
        if model in owner and modules != [f"{owner[model]}.admin"]
    }
    assert misplaced == {}
