"""Operator notifications: a failed run, a failed blocking check, a late feed.

Every notice is appended as one JSON line to a log file (``KENPO_NOTIFY_LOG``, default
``$KENPO_HOME/notifications.log``); when ``KENPO_NOTIFY_WEBHOOK`` is set it is also POSTed there as
JSON. The payload carries ``text`` (one line, Japanese, for chat webhooks such as Slack or Teams
incoming webhooks) plus the structured fields. A webhook that cannot be reached does not lose the
notice: it is in the log file, with the delivery error beside it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KINDS = {"run_failed": "実行失敗", "check_failed": "ブロッキングチェック失敗", "feed_late": "フィード未着"}
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Notice:
    kind: str  # run_failed | check_failed | feed_late
    title: str  # one line, Japanese
    details: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown notice kind {self.kind!r} (expected one of {', '.join(KINDS)})")

    @property
    def text(self) -> str:
        return f"[kenpo-pipeline] {KINDS[self.kind]}: {self.title}"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, **asdict(self)}


@dataclass(frozen=True)
class Delivery:
    log_path: Path
    webhook_status: int | None = None  # HTTP status, None when no webhook is set or it failed
    webhook_error: str | None = None


class Notifier:
    def __init__(self, log_path: Path | str, webhook_url: str | None = None, timeout_seconds: float = 10.0):
        self.log_path = Path(log_path)
        self.webhook_url = webhook_url or None
        self.timeout_seconds = timeout_seconds

    def send(self, notice: Notice) -> Delivery:
        status, error = None, None
        if self.webhook_url:
            status, error = self._post(notice.payload())
        record = notice.payload()
        if self.webhook_url:
            record["webhook"] = {"status": status, "error": error}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITE_LOCK, open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        return Delivery(self.log_path, status, error)

    def _post(self, payload: dict) -> tuple[int | None, str | None]:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        req = urllib.request.Request(
            self.webhook_url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                return resp.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def read_log(path: Path | str) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
