"""The protocol layer and the server core never touch I/O: no asyncio, socket, ssl, selectors
or hubbub.net import, anywhere in their trees (STYLE.md section 1). The config and password
modules the core imports, and the built-in plugins, are held to the same rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PURE_PACKAGES = (
    "hubbub.protocol",
    "hubbub.server",
    "hubbub.config",
    "hubbub.passwords",
    "hubbub.plugins",
)
"""Packages (every module in their tree) and single modules that must stay free of I/O."""
BANNED = ("asyncio", "socket", "ssl", "selectors", "hubbub.net")


def _is_banned(module: str) -> bool:
    return any(module == b or module.startswith(b + ".") for b in BANNED)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``import from`` names, relative imports included."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, node.module] if node.module else base)


def banned_imports(source: str, module: str = "hubbub.x", is_package: bool = False) -> list[str]:
    """Every banned module that ``source`` imports, as ``line: module``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: {a.name}" for a in node.names if _is_banned(a.name)]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            if _is_banned(target):
                found.append(f"{node.lineno}: {target}")
            else:
                # ``from hubbub import net`` imports the package itself.
                found += [
                    f"{node.lineno}: {target}.{a.name}"
                    for a in node.names
                    if _is_banned(f"{target}.{a.name}" if target else a.name)
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and _is_banned(node.args[0].value)
        ):
            found.append(f"{node.lineno}: {node.args[0].value}")
    return found


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for package in PURE_PACKAGES:
        root = SRC.joinpath(*package.split("."))
        if root.is_dir():
            files += sorted(root.rglob("*.py"))
        else:
            module = root.with_suffix(".py")
            # A listed name that is neither a package nor a module was moved or renamed: say so
            # rather than silently checking nothing.
            assert module.is_file(), f"{package} is in PURE_PACKAGES but not under {SRC}"
            files.append(module)
    return files


def test_pure_packages_import_no_io() -> None:
    files = _pure_files()
    assert any(p.parent.name == "protocol" for p in files), f"no protocol modules under {SRC}"
    assert any(p.parent.name == "config" for p in files), f"no config modules under {SRC}"
    violations: list[str] = []
    for path in files:
        module = _module_name(path)
        source = path.read_text(encoding="utf-8")
        for hit in banned_imports(source, module, path.name == "__init__.py"):
            violations.append(f"{path.relative_to(SRC.parent)}:{hit}")
    assert not violations, "I/O imports in the pure layers:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import socket as s",
        "import os, ssl",
        "import asyncio.events",
        "from selectors import DefaultSelector",
        "from asyncio import Queue",
        "import hubbub.net",
        "import hubbub.net.tcp",
        "from hubbub.net.tcp import serve",
        "from hubbub import net",
        "from hubbub import protocol, net as n",
        "from ...net.tcp import serve",
        "def f():\n    import asyncio",
        "if TYPE_CHECKING:\n    import ssl",
        "importlib.import_module('asyncio')",
        "__import__('socket')",
    ],
)
def test_checker_catches(source: str) -> None:
    assert banned_imports(source, "hubbub.server.commands.x"), source


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import tomllib",
        "from pathlib import Path",
        "import hubbub.network",
        "from hubbub.protocol import parse",
        "from hubbub import protocol",
        "from . import net",  # hubbub.server.commands.net, not hubbub.net
        "from .net_utils import x",
        "import asyncio_compat",
        "import sslkeys",
        "x = 'import asyncio'",
    ],
)
def test_checker_allows(source: str) -> None:
    assert not banned_imports(source, "hubbub.server.commands.x"), source


def test_relative_imports_resolve_from_packages() -> None:
    assert banned_imports("from .net import tcp", "hubbub", is_package=True)
    assert banned_imports("from .. import net", "hubbub.server", is_package=True)
    assert not banned_imports("from . import net", "hubbub.server", is_package=True)
