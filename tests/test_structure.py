"""The core names no method: only selfinstruct/methods/ imports a method package, and the
registry finds them by listing that folder (issue 20)."""

from __future__ import annotations

import ast
from pathlib import Path

from selfinstruct import registry

PACKAGE = Path(__file__).resolve().parents[1] / "selfinstruct"
METHODS = PACKAGE / "methods"


def method_packages() -> set[str]:
    return {p.name for p in METHODS.iterdir() if (p / "__init__.py").is_file()}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_outside_methods_imports_a_method_package():
    packages = method_packages()
    assert {"self_instruct", "alpaca", "evolve", "glan", "chat", "magpie", "judge"} <= packages
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if METHODS in path.parents:
            continue
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[:2] == ["selfinstruct", "methods"] and len(parts) > 2 and parts[2] in packages:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert offenders == []


def test_every_method_package_is_registered_under_its_settings_name():
    for method in registry.methods():
        assert method.Settings.model_fields["method"].default == method.name
        for stage, field in method.stages.items():
            assert field in method.Settings.model_fields, (method.name, stage)
    built_in = {m.__module__.split(".")[2] for m in registry.methods()
                if m.__module__.startswith("selfinstruct.methods.")}  # fmt: skip
    assert built_in == method_packages()


def test_importing_a_method_package_first_leaves_the_registry_whole():
    """A script that imports one method package before anything else (as a user's script does)
    still finds every method: nothing reads the registry while a package is half imported."""
    import subprocess
    import sys

    code = (
        "from selfinstruct.methods.magpie import Magpie\n"
        "from selfinstruct import registry\n"
        "print(','.join(registry.names()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {"magpie", "chat", "self-instruct"} <= set(done.stdout.strip().split(","))


def test_a_method_never_imports_its_own_command():
    """The package's face (``__init__``) joins METHOD and COMMAND; the method module itself does
    not import the command module, so the two never import each other."""
    offenders = []
    for package in sorted(method_packages()):
        for path in sorted((METHODS / package).glob("*.py")):
            if path.name in ("__init__.py", "command.py"):
                continue
            if any(m.endswith(f"{package}.command") for m in imported_modules(path)):
                offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert offenders == []
