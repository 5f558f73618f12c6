"""How a sheet prints: A4 landscape, one page wide, its header rows repeated on every page."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet


def print_setup(ws: Worksheet, header_rows: str) -> None:
    """A4 landscape, fitted to one page wide (as many pages down as needed), ``header_rows``
    (e.g. ``"3:3"``) repeated at the top of every printed page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = header_rows
    ws.page_margins.left = ws.page_margins.right = 0.4
