"""Stage 3 — reporting: judgements become what people read (the workbook, the UI's Markdown, the
command line's tables), each drawn from the same presentation of an evaluation row.
"""
