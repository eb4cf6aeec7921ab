"""The transport seam: the tiny interface the runtime needs from a broker.

`base` defines it with our own records (`Delivery`, `TopicPartition`); `memory`
is the in-process double; `kafka` is the aiokafka adapter (the only module, with
`kafka_probe`, that imports a Kafka client). Pick one with `connect()`.
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
