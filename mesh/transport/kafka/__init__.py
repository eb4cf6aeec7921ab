"""The Apache Kafka adapter (aiokafka): the only package that imports a Kafka client.

`adapter` implements the transport seam (`KafkaTransport`); `probe` tells a down broker
from a wrong address. Private: `_writer` keeps one producer's writes in order,
`_offsets` reads log starts and ends.
"""

from mesh.transport.kafka.adapter import KafkaTransport

__all__ = ["KafkaTransport"]
