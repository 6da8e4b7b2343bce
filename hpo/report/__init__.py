"""The report's parts: what it reads from the tracking store (`queries`), which study runs it
shows and their run trees (`selection`), Tables 4 to 7 and the rule that picks a method's best
job (`tables`, which the stages use for their own tables too), fANOVA importance (`importance`),
figures (`figures`), the page's sections (`sections`) and the page (`page`).
`hpo.studies.report` puts them together."""
