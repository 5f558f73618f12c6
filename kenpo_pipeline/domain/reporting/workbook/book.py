"""What one workbook is written from: a scope's year, as the pipeline already holds it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_name


@dataclass(frozen=True)
class Book:
    """The inputs of one scope's workbook. Every sheet module reads what it needs from here.

    - ``evaluation``: the year's ``pdca_evaluation`` rows of every scope (or the published ones);
    - ``actuals``: the year's ``kpi_actuals``; ``loads``: ``feed_loads``;
    - ``plan_title``: the plan that applies to the scope, as the KPI sheet's subtitle;
    - ``action_plan``: (Action Plan name, its three-year view of the scope, one row per KPI — or
      ``None`` when ``action_plan_view`` holds nothing of the Action Plan yet);
    - ``publication``: (the ``pdca_publications`` record, the differences of the recomputation);
    - ``quarantine``: the ``quarantine`` rows of the year's months (the 差戻しリスト sheet, the
      branch's own counts on データ品質);
    - ``comparison``: the year's ``branch_comparison`` rows (ranks of the branches, the national
      value, 改善幅): the 支部別 sheet's ranks and 全国 row, a branch's 全国値 and 順位 columns
      (None: not read, nothing shown).
    """

    fy: int
    branch: str
    evaluation: pd.DataFrame
    actuals: pd.DataFrame
    loads: pd.DataFrame
    plan_title: str | None = None
    action_plan: tuple[str, pd.DataFrame | None] | None = None
    publication: tuple[dict, pd.DataFrame] | None = None
    quarantine: pd.DataFrame | None = None  # the year's ``quarantine`` rows (None: not read)
    incentive: pd.DataFrame | None = None  # the year's ``incentive_ranking`` rows (None: no インセンティブ sheet)
    commentary: pd.DataFrame | None = None  # the scope's commentary (latest or published versions); None: no columns
    comparison: pd.DataFrame | None = None  # the year's ``branch_comparison`` rows (None: not read)

    def standing(self, branch: str, measure: str, month: str) -> dict | None:
        """The ``branch_comparison`` row of ``branch`` on ``measure`` at ``month`` (None: not compared)."""
        return self._standings.get((branch, measure, month))

    @cached_property
    def _standings(self) -> dict[tuple[str, str, str], dict]:
        """``branch_comparison`` by (branch, measure, month), the first row of each (the national
        workbook looks up every branch's rank of every KPI: one pass over the frame, not one filter
        of it per lookup)."""
        c = self.comparison
        if c is None or not len(c):
            return {}
        out: dict[tuple[str, str, str], dict] = {}
        for row in c.to_dict("records"):
            out.setdefault((row["branch_code"], row["measure"], row["as_of_month"]), row)
        return out

    @property
    def national(self) -> bool:
        return self.branch == NATIONAL_CODE

    @property
    def mine(self) -> pd.DataFrame:
        """The evaluation rows of this workbook's scope."""
        return self.evaluation[self.evaluation["branch_code"] == self.branch]

    @property
    def title(self) -> str:
        return f"{fiscal_year_label_ja(self.fy)} KPI実績一覧表（{branch_name(self.branch)}）"
