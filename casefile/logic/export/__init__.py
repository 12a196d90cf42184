"""Court bundles from the vault: which items, authorized, read verified, and the custody
entries of an export. The bundle's content and its checking are casefile/bundle/; this
package gives it a plan and records what left the vault (`items.py`: a bundle of chosen
items, until filings give their exhibits; the export job comes with filings)."""
