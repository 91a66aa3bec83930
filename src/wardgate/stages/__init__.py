"""Pipeline stages, one module each, composed once per config snapshot (outermost first):
observe → authenticate → parse → authorize → [budget → policy → cache → audit] → route+execute (which admits rate
limits once it knows the candidate deployments: ``wardgate.limits``).

Each stage is ``async def stage(ctx, request, next) -> ProxyResponse`` and is unit-testable with a fake ``next``.
Must not import ``api``.
"""

from collections.abc import Sequence

from wardgate.core.types import Stage
from wardgate.identity.authenticator import Authenticator
from wardgate.observability.events import Observers
from wardgate.stages.authenticate import make_authenticate
from wardgate.stages.authorize import authorize
from wardgate.stages.observe import make_observe
from wardgate.stages.parse import parse


def default_stages(*, authenticator: Authenticator, observers: Observers) -> Sequence[Stage]:
    """The stage list for a snapshot. Later stages slot in between authorize and the terminal handler."""
    return (make_observe(observers), make_authenticate(authenticator), parse, authorize)
