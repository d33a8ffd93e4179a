"""attnhuman entry point: ``python src/main.py [-m] key=value ...`` (see README)."""
import hydra
from omegaconf import DictConfig

from attnhuman.pipeline import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
