"""attnhuman entry point: ``python src/main.py [-m] key=value ...`` (see README)."""
import hydra
from omegaconf import DictConfig

from attnhuman.app import job
from attnhuman.app.errors import one_message


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    one_message(job.run)(cfg)


if __name__ == "__main__":
    main()
