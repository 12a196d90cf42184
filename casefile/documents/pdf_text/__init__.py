"""A small PDF text writer of our own for documents laid out in code (the custody report,
the court bundle's index, the consolidated PDF's front matter and the exhibits' page
stamps): fonts found through fontconfig and shaped by HarfBuzz (`fonts`), lines broken by
ICU (`lines`) and the reports' rules for user text (`words`), pages laid out (`flow`:
blocks, headings, tables, banners, page numbers) and written with pydyf (`pdf`; a page may
have its own size)."""
