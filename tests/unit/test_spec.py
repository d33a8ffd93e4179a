"""The typed job: every setting classified (what defines a job's numbers, or not), factories that refuse what they do
not know, and the declared contracts of data and attention sources met by every ``data=`` and ``source=`` option."""
import inspect

import pytest
from hydra.utils import get_method
from omegaconf import open_dict

from attnhuman.app.spec import IDENTITY, NOT_IDENTITY, _identity, job_spec, resolve_model
from attnhuman.attention.source import AttentionSource
from attnhuman.errors import ConfigError
from attnhuman.humans.source import HumanData
from helpers.config import compose_job
from helpers.paths import CONF_DIR

GROUPS = ("model", "prefix", "data", "source", "measure", "analysis", "predictive", "context")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_every_setting_defines_the_numbers_or_not_on_purpose():
    """Each key of conf/ is in IDENTITY or NOT_IDENTITY, never both: a new setting must be classified here."""
    for group in (*GROUPS, ""):
        assert not set(IDENTITY.get(group, ())) & set(NOT_IDENTITY.get(group, ())), group
    assert set(compose_job()) - set(GROUPS) <= set(NOT_IDENTITY[""])
    for group in GROUPS:
        known = set(IDENTITY.get(group, ())) | set(NOT_IDENTITY.get(group, ()))
        for option in _options(group):
            keys = set(compose_job(f"{group}={option}")[group])
            assert keys <= known, f"{group}={option}: unclassified {sorted(keys - known)} (spec.IDENTITY / NOT_IDENTITY)"


def test_only_allow_listed_settings_change_the_identity(tmp_path):
    cfg = compose_job("model=smollm2")
    spec = job_spec(cfg)
    tree = _identity(cfg, spec.model, None)
    with open_dict(cfg):
        cfg.data.note = "a setting added later that changes no number"
        cfg.mlflow.experiment = "elsewhere"
        cfg.source.batch_size = 3
        cfg.data.root = str(tmp_path)
    assert _identity(cfg, spec.model, None) == tree
    assert job_spec(compose_job("model=smollm2", "source.batch_size=3", "source.progress=false",
                                "rerun=true")).config_hash == spec.config_hash
    for change in ("analysis.score=cv", "prefix=translate", "measure=norm", "source.dtype=bfloat16",
                   "data.exclude_subjects.L1=[]", "size=135m tuning=instruct"):
        other = job_spec(compose_job("model=smollm2", *change.split())).config_hash
        assert (other == spec.config_hash) == change.startswith("size="), change     # size=auto is size=135m


def test_factories_take_exactly_their_settings():
    targets = {compose_job(f"{group}={option}")[group]._target_ for group in ("data", "source")
               for option in _options(group)}
    assert len(targets) == 8
    for target in targets:
        kinds = {p.kind for p in inspect.signature(get_method(target)).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, f"{target} takes other than its named settings"
    with pytest.raises(ConfigError, match=r"data.sample: not a setting of data=reading_brain; its settings are "
                                          r"root, cache_dir, download, verify, subjects, exclude_subjects"):
        job_spec(compose_job("+data.sample=10"))
    with pytest.raises(ConfigError, match=r"source.batchsize: not a setting of source=hf"):
        job_spec(compose_job("model=smollm2", "+source.batchsize=3"))


def _tables(tmp_path):
    """A tiny long word table and EyeLink pair of reports."""
    (tmp_path / "words.csv").write_text("subject,unit,word_index,word,measure\na,1,0,One,100\na,1,1,two,0\n")
    (tmp_path / "pp21-relfix-feats.csv").write_text(",sentence_id,word_id,word,TRT\n0,0,0,One,100\n1,0,1,two,0\n")
    (tmp_path / "ia.csv").write_text("participant_id,unique_paragraph_id,IA_ID,IA_LABEL,IA_DWELL_TIME\n"
                                     "a,p,1,One,100\na,p,2,two,50\n")
    (tmp_path / "fixations.csv").write_text("participant_id,unique_paragraph_id,CURRENT_FIX_INDEX,"
                                            "CURRENT_FIX_INTEREST_AREA_ID\na,p,1,1\na,p,2,2\n")
    released = tmp_path / "llama-30b" / "packed_plain.npz"
    released.parent.mkdir()
    released.touch()
    return {"word_measures": [f"data.path={tmp_path / 'words.csv'}"], "eyelink": [f"data.path={tmp_path}"],
            "geco": [f"data.path={tmp_path}/pp*-relfix-feats.csv"],
            "released": [f"source.path={released}", "model=llama", "size=30b"], "hf": ["model=smollm2"],
            "deepspeed": ["model=smollm2"], "imported": [f"source.path={tmp_path / 'words.csv'}", "model=smollm2"]}


def _same_signature(obj, protocol) -> list[str]:
    """The protocol's methods that ``obj`` lacks or takes with other parameters."""
    wrong = []
    for name, method in inspect.getmembers(protocol, inspect.isfunction):
        if name.startswith("_"):
            continue
        expected = list(inspect.signature(method).parameters)[1:]
        if not hasattr(obj, name) or list(inspect.signature(getattr(obj, name)).parameters) != expected:
            wrong.append(name)
    return wrong


@pytest.mark.parametrize("option", _options("data"))
def test_every_data_option_is_a_human_data_source(option, tmp_path):
    spec = job_spec(compose_job(f"data={option}", "model=smollm2", *_tables(tmp_path).get(option, [])))
    assert isinstance(spec.humans.data, HumanData) and not _same_signature(spec.humans.data, HumanData)


@pytest.mark.parametrize("option", _options("source"))
def test_every_source_option_is_an_attention_source(option, tmp_path):
    overrides = _tables(tmp_path)[option]
    spec = job_spec(compose_job(f"source={option}", *overrides))
    assert isinstance(spec.source, AttentionSource) and not _same_signature(spec.source, AttentionSource)
    assert resolve_model(compose_job(*[o for o in overrides if o.startswith(("model=", "size="))])) == spec.model
