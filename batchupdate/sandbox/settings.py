"""Settings of the sandbox: its tokens, its database file and the faults it injects."""

from dataclasses import dataclass
from pathlib import Path

SANDBOX_API_TOKEN = "sandbox-api-token"
SANDBOX_WS_TOKEN = "sandbox-ws-token"
DEFAULT_DB_PATH = Path(".batchupdate-sandbox.sqlite3")


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox behaves; the defaults give a fast, faultless, unlimited API."""

    db_path: Path = DEFAULT_DB_PATH
    latency: float = 0.0
    rate_limit: float | None = None
    retry_after_as_date: bool = False
    fail_before_write: float = 0.0
    fail_after_write: float = 0.0
    fail_reads: float = 0.0
    slow_share: float = 0.0
    slow_seconds: float = 0.0
    seed: int = 0
    max_page_size: int = 100
    echo_headers: bool = False  # every write refused (400) with a body that quotes the request's headers
    late_landing: float = 0.0  # seconds a write is held before it is applied (and answered)
    api_token: str = SANDBOX_API_TOKEN
    ws_token: str = SANDBOX_WS_TOKEN

    def __post_init__(self) -> None:
        shares = {
            "fail_before_write": self.fail_before_write,
            "fail_after_write": self.fail_after_write,
            "fail_reads": self.fail_reads,
            "slow_share": self.slow_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {share}")
        if self.fail_before_write + self.fail_after_write > 1.0:
            raise ValueError("fail_before_write + fail_after_write must not exceed 1")
        if self.latency < 0 or self.slow_seconds < 0 or self.late_landing < 0:
            raise ValueError("latency, slow_seconds and late_landing must not be negative")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive, not {self.rate_limit}")
        if self.max_page_size < 1:
            raise ValueError(f"max_page_size must be at least 1, not {self.max_page_size}")
