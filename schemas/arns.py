"""Schemas ARNs: `arn:aws:schemas:{region}:{account}:registry/{R}`, `...:schema/{R}/{S}`, `...:discoverer/{id}`.

`parse` reads an ARN a client sends to the tag operations back into what it names; an ARN of another service,
region or account names nothing this router holds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArnRef", "SchemaArns"]


@dataclass(frozen=True, slots=True)
class ArnRef:
    """What a Schemas ARN names: `kind` is `registry`, `schema` or `discoverer`."""

    kind: str
    name: str
    registry: str | None = None


@dataclass(frozen=True, slots=True)
class SchemaArns:
    region: str
    account_id: str
    partition: str = "aws"

    @property
    def _prefix(self) -> str:
        return f"arn:{self.partition}:schemas:{self.region}:{self.account_id}:"

    def registry(self, name: str) -> str:
        return f"{self._prefix}registry/{name}"

    def schema(self, registry: str, name: str) -> str:
        return f"{self._prefix}schema/{registry}/{name}"

    def discoverer(self, discoverer_id: str) -> str:
        return f"{self._prefix}discoverer/{discoverer_id}"

    def parse(self, arn: str) -> ArnRef | None:
        if not arn.startswith(self._prefix):
            return None
        kind, _, rest = arn[len(self._prefix) :].partition("/")
        if not rest:
            return None
        if kind == "schema":
            registry, _, name = rest.partition("/")
            return ArnRef("schema", name, registry) if registry and name else None
        if kind in ("registry", "discoverer"):
            return ArnRef(kind, rest)
        return None
