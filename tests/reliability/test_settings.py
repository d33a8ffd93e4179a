"""Settings that would give a silently different or empty result: refused in one line when the job's spec is built,
before any data is read or any MLflow run exists."""
import re

import pytest

from attnhuman.app.spec import humans_spec
from attnhuman.errors import ConfigError
from helpers.commands import command, runs
from helpers.config import compose_job
from helpers.paths import LLAMA30, READING_BRAIN


@pytest.mark.parametrize("groups, shown", [("[]", "[]"), ("[L1,L1]", "[L1, L1]"), ("[L2,L1,L2]", "[L2, L1, L2]")])
def test_groups_named_once_at_least_one(groups, shown):
    with pytest.raises(ConfigError, match=re.escape(f"analysis.groups={shown}: name each group to compare once, at "
                                                    "least one (e.g. [L1, L2], or [L1] for data with native readers "
                                                    "only).")):
        humans_spec(compose_job(f"analysis.groups={groups}", f"data.root={READING_BRAIN}"))


def test_no_group_leaves_no_run(tmp_path):
    result = command(tmp_path, "source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}",
                     f"source.path={LLAMA30 / 'packed_plain.npz'}", "analysis.groups=[]", check=False)
    assert result.returncode == 1 and "analysis.groups=[]: name each group" in result.output
    assert runs(tmp_path)[1] == []
