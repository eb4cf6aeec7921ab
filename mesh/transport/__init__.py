"""The transport seam: the tiny interface the runtime needs from a broker.

`base` defines it with our own records (`Delivery`, `TopicPartition`); `memory` is
the in-process double (`mesh.testing`); `kafka/` is the aiokafka adapter, the only
package that imports a Kafka client. `factory.kafka_transport(settings)` makes the
Kafka transport without importing aiokafka until it is called.
"""

from mesh.transport.base import (
    Consumer,
    Delivery,
    RebalanceListener,
    TopicPartition,
    TopicSpec,
    Transport,
)

__all__ = [
    "Consumer",
    "Delivery",
    "RebalanceListener",
    "TopicPartition",
    "TopicSpec",
    "Transport",
]
