"""What models did: the attention store, the model registry facts, checkpoints, extraction and its cache, sharding,
and the attention sources (released files, transformers, DeepSpeed)."""
