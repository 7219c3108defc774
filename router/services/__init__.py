"""The one port's services: a registry of `Service` objects and the dispatcher between them (router.services.registry),
the AWS service catalogue that recognises requests for services Switchboard does not serve
(router.services.catalogue), and the errors they get in their own wire protocol (router.services.not_served).

To put a service on the port, build its ASGI app and declare it, one line: a package on top of the router in its
extension (router.extensions), which router.app mounts after `events`,

    Extension(name="schemas", services=[Service("schemas", "Amazon EventBridge Schemas", schemas_app,
                                                signing_names=("schemas",), paths=("/v1/registries",))])

and a service of the router itself with `services.mount(Service(...))` in router.app.create_app.
"""

from router.services.catalogue import AwsService, identify
from router.services.not_served import NOT_SERVED_CODE
from router.services.registry import Service, Services

__all__ = ["NOT_SERVED_CODE", "AwsService", "Service", "Services", "identify"]
