"""The case map: where the case's incidents happened and where its items were recorded.

- `points`: the points a member may see on a case's map (items with a GPS position in their
  embedded EXIF metadata, or the position their collector gave; incidents with a latitude and
  longitude), filtered by date, type and incident category. Restricted items appear only for
  members holding a grant, exactly as in the evidence list. Reading the map is not a view of
  any item's content: it writes no custody entry (docs/map.md)."""
