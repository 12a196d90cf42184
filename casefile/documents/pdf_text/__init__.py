"""A small PDF text writer of our own for documents laid out in code (the custody report,
the court bundle's index and the consolidated PDF's front matter): fonts found through
fontconfig and shaped by HarfBuzz (`fonts`), lines broken by ICU (`lines`) and the reports'
rules for user text (`words`), pages laid out (`flow`: blocks, headings, tables, banners,
page numbers) and written with pydyf (`pdf`)."""
