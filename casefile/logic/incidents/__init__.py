"""Incidents: what happened in a case, when, where, to whom and by whom (allegedly), and how
its items of evidence bear on it. `incidents.py` records and changes incidents (with
optimistic concurrency: `version`), `perpetrators.py` names the units and persons a case
alleges, reused across its incidents, `links.py` ties items to incidents with a relation,
`listing.py` lists and filters them, `places.py` holds Myanmar's states/regions, districts
and townships (casefile/data/myanmar_admin.json) that the location fields are checked against.
Every change is a custody entry in the same transaction, with what changed from what to what.
"""
