"""The one port's services: a registry of `Service` objects and the dispatcher between them (router.services.registry),
the AWS service catalogue that recognises requests for services Switchboard does not serve
(router.services.catalogue), and the errors they get in their own wire protocol (router.services.not_served).

To put a service on the port, build its ASGI app and mount it in router.app.create_app, one line each:

    services.mount(Service("schemas", "Amazon EventBridge Schemas", schemas_app, signing_names=("schemas",),
                           paths=("/v1/registries", "/v1/discoverers")))
"""

from router.services.catalogue import AwsService, identify
from router.services.not_served import NOT_SERVED_CODE
from router.services.registry import Service, Services

__all__ = ["NOT_SERVED_CODE", "AwsService", "Service", "Services", "identify"]
