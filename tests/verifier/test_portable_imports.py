"""casefile/verifier/ ships inside court bundles: it may import the standard library, itself
(relatively, so a copied folder works under any name) and `cryptography` for Ed25519, and
nothing else."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import casefile.verifier

PACKAGE = Path(casefile.verifier.__file__).resolve().parent
# The one dependency outside the standard library: Ed25519 for signed notes.
ALLOWED_THIRD_PARTY = {
    "cryptography.exceptions",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
}


def modules() -> list[Path]:
    found = sorted(PACKAGE.glob("*.py"))
    assert {path.name for path in found} >= {
        "__init__.py", "custody_entry.py", "custody_verifier.py", "merkle.py", "signed_note.py",
        "bundle_verifier.py",
    }
    return found


def refused_imports(source: str) -> list[str]:
    """What a module imports that the portable verifier may not: absolute imports outside
    the standard library and ALLOWED_THIRD_PARTY, and relative imports that leave the
    package."""
    refused = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                continue  # a sibling module of the package
            if node.level > 1:
                refused.append("." * node.level + (node.module or ""))
                continue
            names = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in
            {"__import__", "import_module"}
        ):
            refused.append("a dynamic import")
            continue
        else:
            continue
        refused.extend(
            name for name in names
            if name.split(".")[0] not in sys.stdlib_module_names
            and name not in ALLOWED_THIRD_PARTY
        )
    return refused


def test_the_checker_refuses_what_it_should():
    assert refused_imports("import json\nfrom . import merkle\nfrom __future__ import x") == []
    assert refused_imports("from cryptography.hazmat.primitives.asymmetric.ed25519 import X") == []
    assert refused_imports("from casefile.verifier import merkle") == ["casefile.verifier"]
    assert refused_imports("import reportlab.lib") == ["reportlab.lib"]
    assert refused_imports("from cryptography.fernet import Fernet") == ["cryptography.fernet"]
    assert refused_imports("from ..logic import custody") == ["..logic"]
    assert refused_imports("def f():\n    import flask\n") == ["flask"]
    assert refused_imports("import importlib\nimportlib.import_module('flask')") == [
        "a dynamic import"
    ]


def test_the_verifier_imports_only_the_standard_library_itself_and_ed25519():
    problems = {
        path.name: refused for path in modules()
        if (refused := refused_imports(path.read_text("utf-8")))
    }
    assert problems == {}


def test_a_copy_under_another_name_loads_nothing_else(tmp_path):
    """Copied out of Casefile, as a bundle carries it, the package imports and loads no
    module of Casefile or of any other third-party package."""
    shutil.copytree(PACKAGE, tmp_path / "bundle_verifier",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "before = set(sys.modules)\n"
        "import bundle_verifier.custody_verifier, bundle_verifier.merkle\n"
        "import bundle_verifier.signed_note, bundle_verifier.custody_entry\n"
        "import bundle_verifier.bundle_verifier\n"
        "for name in sorted(set(sys.modules) - before):\n"
        "    if name.split('.')[0] not in sys.stdlib_module_names:\n"
        "        print(name, getattr(sys.modules[name], '__file__', None) or '-')\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path,
        capture_output=True, text=True, check=True, timeout=60,
    )
    loaded = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert "bundle_verifier.custody_verifier" in loaded
    # Besides the copy itself: cryptography and what it loads (cffi, its compiled bindings).
    allowed_files = {
        str(Path(file.locate()).resolve())
        for dist in ("cryptography", "cffi") for file in metadata.files(dist) or []
    }
    strangers = {
        name: file for name, file in loaded.items()
        if not name.startswith("bundle_verifier")
        and file != "-" and str(Path(file).resolve()) not in allowed_files
    }
    assert strangers == {}
    assert not any(name.startswith("casefile") for name in loaded)
