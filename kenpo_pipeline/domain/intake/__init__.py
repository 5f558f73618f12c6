"""Stage 1 of a row's journey — intake: a landed file becomes typed rows and quarantine records.

``landing`` (the landing contract and the one parser of feed file names) → ``reading`` (bytes →
physical lines or the Excel sheet a person sees) → ``values`` (cells → typed values within their
bounds) → ``feeds`` (one file parsed and validated, with ``suites``: the GX row rules) →
``status`` (the feed × month picture); ``deadlines`` says when a feed month is late, ``sample``
writes realistic feed files.
"""
