"""Court bundles: what goes into one and how it is checked.

`plan.py` is the typed description of a bundle (the filing and its exhibits) that callers
build (logic/export/ from a list of items today, from a filing once filings exist);
`writer.py` writes it as a BagIt bag, a folder or a streamed zip, and nothing that looks
complete unless every exhibit was read verified; `stamping.py` makes the stamped PDF
renditions (in a bounded helper process: the bytes are a collector's file); `index.py` the
index as CSV and PDF (laid out by `index_pdf.py`); `consolidated.py` the consolidated PDF,
its cover and index laid out by `front_matter.py`; `verifier_file.py` the single-file
verifier the bundle carries, which is casefile/verifier/ inlined (bundle_verifier.py there
does the checking).
"""
