"""The sharded shape (``--shard-log``): frames through JetStream, partitions owned by lease.

Opt-in and apart from the single-server paths: without ``--shard-log`` nothing here is
imported. With it, a server

- publishes every accepted frame batch to the frames stream on its partition's subject
  (``frames``: ``nh.act.p.<partition>.<model>.<layer>``, chunked under NATS's
  ``max_payload``) and answers only once JetStream acknowledged it (``node``);
- holds a set of partitions through leases in a JetStream KV bucket (``leases``);
- for each partition it holds, rebuilds the windows by replaying the retained frames
  already judged, then consumes the rest in order with a durable pull consumer, acking
  after the state update (``worker``);
- publishes the anomalies it finds to the one anomaly stream on its partition's subject,
  each with a message id fixed by the frame it came from, and reads the whole stream back
  into its local copy, so every server answers anomaly reads for every shard
  (``anomaly_log``).

docs/deploy.md ("Servers sharded by model") describes the shape, its bounds and limits.
"""
