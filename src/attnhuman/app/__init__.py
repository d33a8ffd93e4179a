"""The application layer: the only place with the Hydra config, MLflow and process ranks."""
