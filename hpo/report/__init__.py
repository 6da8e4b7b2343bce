"""The report's parts: what it reads from the tracking store (`queries`), Tables 4 to 7
(`tables`), fANOVA importance (`importance`), figures (`figures`) and the HTML page (`page`).
`hpo.studies.report` puts them together."""
