"""The portable verifier: checks custody reports, Merkle proofs and signed checkpoints offline.

This package ships inside court bundles, where a registry, a judge or opposing counsel runs it
with no database, no Flask and no secret. It must import nothing outside the Python standard
library and itself, with one exception: `cryptography`, for the Ed25519 signature check of
signed notes (signed_note.py), since checking signatures by hand-written crypto is worse than
one well-known dependency. Modules import each other relatively, so the folder works under any
package name once copied into a bundle. tests/verifier/test_portable_imports.py enforces this.

bundle_verifier.py checks a whole court bundle (BagIt fixity, the index, the signature over
the tag manifest, every custody report); casefile/bundle/verifier_file.py inlines this package
into the bundle's verify_bundle.py. Writers of documents live in casefile/documents/ and
casefile/bundle/.
"""
