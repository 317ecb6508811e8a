"""Methods beyond the core ones, registered on import (``imbjax.methods`` imports this lazily).

One module per kind of method; each calls :func:`imbjax.methods.register` for its methods and,
where a method needs its own training loop, :func:`imbjax.train.register_family`.
"""
from imbjax.method_library import losses  # noqa: F401
from imbjax.method_library import two_phase  # noqa: F401
from imbjax.method_library import centres  # noqa: F401
from imbjax.method_library import dynamic  # noqa: F401
from imbjax.method_library import resampling  # noqa: F401
from imbjax.method_library import crl  # noqa: F401
from imbjax.method_library import dos  # noqa: F401
from imbjax.method_library import costs  # noqa: F401
from imbjax.method_library import lmle  # noqa: F401
from imbjax.method_library import decoupling  # noqa: F401
from imbjax.method_library import mixup  # noqa: F401
