"""The audit/enforce switch every policy shares (rate limits, budgets, content policies).

``audit`` counts and logs what would have been refused and never refuses; ``enforce`` refuses. A rule switched
from audit to enforce behaves exactly as its audit log predicted.
"""

from typing import Literal

PolicyMode = Literal["audit", "enforce"]
POLICY_MODES: tuple[PolicyMode, ...] = ("audit", "enforce")
