"""The Apache Kafka adapter (aiokafka): the only package that imports a Kafka client.

`adapter` implements the transport seam; `writer` keeps one producer's writes in order;
`offsets` reads log starts and ends; `probe` tells a down broker from a wrong address.
"""

from mesh.transport.kafka.adapter import KafkaTransport

__all__ = ["KafkaTransport"]
