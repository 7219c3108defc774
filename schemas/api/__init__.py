"""The Schemas REST API: the restJson1 wire layer (`protocol`) and one module of handlers per area.

`OPERATIONS` maps each served operation name to its handler; an operation of the model that is not in it answers
an explicit `UnsupportedOperationException`.
"""

from __future__ import annotations

from schemas.api import bindings, discoverers, registries, schema_ops, tags
from schemas.api.protocol import PATHS, Handler, SchemasApp

__all__ = ["OPERATIONS", "PATHS", "Handler", "SchemasApp"]

OPERATIONS: dict[str, Handler] = {
    **registries.OPERATIONS,
    **schema_ops.OPERATIONS,
    **tags.OPERATIONS,
    **bindings.OPERATIONS,
    **discoverers.OPERATIONS,
}
