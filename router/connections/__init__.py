"""Connections and API destinations: their records, their encrypted credentials and their authorization.

An API destination target needs three things at delivery time, one module each:
- `router.connections.store`: the connection and API destination records in Redis (create, describe, list,
  states), with the credentials split off and encrypted;
- `router.connections.secrets`: the Fernet box that encrypts credentials at rest;
- `router.connections.auth`: turns a connection into request headers and parameters (BASIC, API_KEY, or an OAuth
  client-credentials token fetched once and cached);
- `router.connections.endpoints`: which outbound URLs are accepted (http and https with a plain host) and how path
  parameters fill an endpoint's path.

The API handlers (router.api.connections, router.api.api_destinations) and the delivery engine
(router.delivery.api_destinations) use only the names below.
"""

from __future__ import annotations

from router.connections.auth import Authorization, ConnectionAuth, ConnectionUnauthorized
from router.connections.endpoints import check_endpoint, fill_path
from router.connections.secrets import SecretBox, SecretsUnavailable
from router.connections.store import CONNECTION_LIMIT, DESTINATION_LIMIT, ConnectionStore, public_auth_parameters

__all__ = [
    "CONNECTION_LIMIT",
    "DESTINATION_LIMIT",
    "Authorization",
    "ConnectionAuth",
    "ConnectionStore",
    "ConnectionUnauthorized",
    "SecretBox",
    "SecretsUnavailable",
    "check_endpoint",
    "fill_path",
    "public_auth_parameters",
]
