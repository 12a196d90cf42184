"""Filings and exhibits: what lawyers lodge with a court. `filings` creates and changes
filings (forum-specific types, classification and its basis, the status draft → final →
filed, new versions of a filed filing, which is frozen); `exhibits` keeps each filing's
ordered list of items and numbers them by the forum's convention; `warnings` says, before an
export, what a registry would object to (never silently). Every change is a custody entry:
a filing's on its case, an exhibit's on its item."""
