"""Every table of every room, for the composition root: migrations (autogenerate), the test suite and
tools that need the whole schema import this module. ``council`` cannot import ``votes`` (imports flow
one way), so the full metadata is assembled here.
"""

from council.core.models import metadata
from streaming import models as _streaming  # noqa: F401
from transcripts import item_models as _transcript_items  # noqa: F401
from transcripts import models as _transcripts  # noqa: F401
from votes import models as _votes  # noqa: F401

__all__ = ["metadata"]
