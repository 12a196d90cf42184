"""A small PDF text writer of our own for documents laid out in code (the custody report,
the court bundle's page stamps): fonts found through fontconfig and shaped by HarfBuzz
(`fonts`), lines broken by ICU and the report's own rules (`lines`), pages written with
pydyf (`pdf`)."""
