"""attnhuman comparison: ``python src/compare.py [compare.filter="tags.model = 'smollm2'"] ...`` (see README).

The same config tree as ``main.py`` (data, analysis, mlflow, compare groups); logs one comparison run.
"""
import hydra
from omegaconf import DictConfig

from attnhuman.compare import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
