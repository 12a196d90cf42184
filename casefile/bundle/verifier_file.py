"""verify_bundle.py: the portable verifier (casefile/verifier/) as one file inside each bundle.

The modules' own text is embedded, unchanged and readable, as string literals; a few lines
at the end load them as a package of their own (`casefile_bundle_verifier`), so that their
relative imports work, and run bundle_verifier.main. What the file runs is therefore exactly
the code tests/verifier/ tests, and it needs what that code needs: Python 3.11 or later and
`cryptography` (for Ed25519).
"""

from __future__ import annotations

import ast
from pathlib import Path

import casefile.verifier

PACKAGE = Path(casefile.verifier.__file__).resolve().parent
# Dependency order: each module only imports those before it.
MODULES = ("custody_entry", "merkle", "signed_note", "custody_verifier", "bundle_verifier")
FILE_NAME = "verify_bundle.py"

_HEAD = '''#!/usr/bin/env python3
"""Check a Casefile court bundle offline, without Casefile: python3 verify_bundle.py BUNDLE
[--key KEY]. BUNDLE is the bag's folder or its zip; KEY the verifier key the instance
publishes (GET /api/v1/custody/public-key), as text or a file. Needs Python 3.11+ and the
`cryptography` package (pip install cryptography). Exit status 0: every check passed; 1:
the failures are listed. See VERIFY.txt beside this file.

Below are the modules of Casefile's portable verifier (casefile/verifier/), verbatim, then
ten lines that load them as a package and run it."""

import sys
import types

SOURCES = {}
'''

_TAIL = """

def _load(package_name="casefile_bundle_verifier"):
    package = types.ModuleType(package_name)
    package.__path__ = []
    package.__package__ = package_name
    sys.modules[package_name] = package
    for name, source in SOURCES.items():
        module = types.ModuleType(f"{package_name}.{name}")
        module.__package__ = package_name
        module.__file__ = f"{__file__}#{name}.py"
        sys.modules[module.__name__] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
        setattr(package, name, module)
    return package


if __name__ == "__main__":
    sys.exit(_load().bundle_verifier.main())
"""


def _literal(source: str) -> str:
    """`source` as a readable triple-quoted literal that evaluates back to it exactly."""
    body = source.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    literal = f'"""{body}"""'
    if ast.literal_eval(literal) != source:  # never ship a verifier that differs from ours
        raise ValueError("the verifier's source does not round-trip as a literal")
    return literal


def text() -> str:
    parts = [_HEAD]
    for name in MODULES:
        source = (PACKAGE / f"{name}.py").read_text("utf-8")
        parts.append(f"\nSOURCES[{name!r}] = {_literal(source)}\n")
    parts.append(_TAIL)
    return "".join(parts)
