"""Everything that touches Apache Kafka, and the only package that imports ``confluent_kafka``.

- :mod:`~hub.kafka.clients`: client settings, and :func:`~hub.kafka.clients.translate`, the one
  place Kafka's exceptions become the hub's own errors;
- :mod:`~hub.kafka.producer`, :mod:`~hub.kafka.consumer`, :mod:`~hub.kafka.transactions`: the typed
  clients the rest of the hub uses (they wrap the clients, never the records);
- :mod:`~hub.kafka.reader`: reading a partition's committed records; :mod:`~hub.kafka.topics`: topic
  names, configs and record headers; :mod:`~hub.kafka.membership_log`: the membership log;
- :mod:`~hub.kafka.watch`: whether the cluster answers, as a service sees it (outage logs, health);
- :mod:`~hub.kafka.local` and :mod:`~hub.kafka.provision`: a broker for development and tests.
"""
