"""Legal frameworks (statutes and their elements of crimes) and the proof matrix built on them.

`document.py` reads and validates a framework file (YAML, refused with the line that is
wrong), `registry.py` finds frameworks: the versions shipped in the package
(casefile/frameworks/) and those an administrator loaded into the database. `charges.py` holds
the crimes charged in a case, `links.py` the proof links from a charged crime's elements to
evidence items (and incidents), and `matrix.py` builds the proof matrix one actor may see.
The format is documented in docs/frameworks.md."""
