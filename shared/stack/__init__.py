"""The local stack: Apache Kafka (KRaft) and Redis as local processes, or external endpoints.

``LocalStack(settings).up()`` returns the :class:`Endpoints` clients connect to; ``down()``
stops only the processes it started; ``status()`` reports what runs where.
"""

from shared.stack.manager import LocalStack
from shared.stack.models import Endpoints, ServiceStatus, StackStatus

__all__ = ["Endpoints", "LocalStack", "ServiceStatus", "StackStatus"]
