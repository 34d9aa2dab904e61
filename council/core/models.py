"""Imports every model module so that ``Base.metadata`` knows all tables (migrations, tests)."""

from council.accounts import models as _accounts  # noqa: F401
from council.alerts import models as _alerts  # noqa: F401
from council.backoffice import models as _backoffice  # noqa: F401
from council.backoffice import motion_models as _backoffice_motions  # noqa: F401
from council.core import jobs as _jobs  # noqa: F401
from council.core.base import Base
from council.live import models as _live  # noqa: F401
from council.live import speakers as _speakers  # noqa: F401
from council.oparl.importer import models as _oparl_import  # noqa: F401
from council.questions import models as _questions  # noqa: F401
from council.records import models as _records  # noqa: F401
from council.search import models as _search  # noqa: F401
from council.workspace import models as _workspace  # noqa: F401

metadata = Base.metadata

__all__ = ["Base", "metadata"]
