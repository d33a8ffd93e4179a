"""attnhuman comparison: ``python src/compare.py [compare.filter="tags.model = 'smollm2'"] ...`` (see README).

Composes ``conf/comparison.yaml`` (data, analysis, mlflow, compare; no model) and logs one comparison run.
"""
import hydra
from omegaconf import DictConfig

from attnhuman.app import comparison
from attnhuman.app.errors import one_message


@hydra.main(version_base="1.3", config_path="../conf", config_name="comparison")
def main(cfg: DictConfig) -> None:
    one_message(comparison.command)(cfg)


if __name__ == "__main__":
    main()
