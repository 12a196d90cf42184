"""Data shipped with Casefile: myanmar_admin.json, Myanmar's states/regions, districts and
townships with English and Burmese names (MIMU place codes; its `source` names where it came
from, and docs/incidents.md says how it was made)."""
