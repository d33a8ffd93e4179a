"""attnhuman entry point: ``python src/main.py [-m] key=value ...`` (see README)."""
import hydra
from omegaconf import DictConfig

from attnhuman.app.main import run_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_job(cfg)


if __name__ == "__main__":
    main()
