"""Year-end freeze (確定): the published version of a fiscal year's evaluation.

Once the evaluation is approved, ``kenpo finalize`` records it as published — who, when, the load ids
of every feed-month and the checksum of the catalog it rests on — in ``pdca_publications`` and
``pdca_published_evaluation``. A later correction or catalog edit recomputes ``pdca_evaluation`` but
never rewrites the published version: the workbook and the UI show the published figures and, beside
them, any recomputed figure that differs, as a difference to review.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

COMPARED = (("target_text", "目標"), ("actual_text", "実績"), ("status", "達成状況"))


def catalog_checksum(catalog_path: Path) -> str:
    """SHA-256 over the year's catalog and its manual entries (when present)."""
    h = hashlib.sha256()
    for path in (catalog_path, catalog_path.with_name(f"{catalog_path.stem}_manual.yaml")):
        if path.exists():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def differences(published: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Rows whose recomputed target, actual or status differs from the published one (and rows
    that appeared or disappeared), with a Japanese description."""
    key = ["branch_code", "kpi_id"]
    merged = published.merge(live, on=key, how="outer", suffixes=("_published", "_live"), indicator=True)
    out = []
    for r in merged.to_dict("records"):
        if r["_merge"] == "left_only":
            text = "再計算の結果にこの行がありません"
        elif r["_merge"] == "right_only":
            text = "公表後に追加された行です"
        else:
            changes = [f"{label} {r[f'{c}_published']} → {r[f'{c}_live']}" for c, label in COMPARED if (r[f"{c}_published"] or "") != (r[f"{c}_live"] or "")]
            if not changes:
                continue
            text = "再計算: " + "、".join(changes)
        out.append({"branch_code": r["branch_code"], "kpi_id": r["kpi_id"], "difference": text})
    return pd.DataFrame(out, columns=["branch_code", "kpi_id", "difference"])
