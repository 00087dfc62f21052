"""mdflow.profiles: search order, `extends`, validation of mdflow.yaml, and materialize."""

import os
from pathlib import Path

import pytest
import yaml

from mdflow.errors import MdflowError
from mdflow.paths import SHIPPED_PROFILES
from mdflow.profiles import SCHEDULERS, SITE_FILE, SNAKEMAKE_FILE, load_profile, materialize, search_path


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No user profiles leak in: an empty XDG config dir and no MDFLOW_PROFILE_PATH."""
    config_home = tmp_path / "xdg-config"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.delenv("MDFLOW_PROFILE_PATH", raising=False)
    return config_home


@pytest.fixture
def project(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    return project


def make_profile(parent: Path, name: str, site: dict | str, options: dict | None = None) -> Path:
    directory = parent / name
    directory.mkdir(parents=True)
    text = site if isinstance(site, str) else yaml.safe_dump(site)
    (directory / SITE_FILE).write_text(text)
    if options is not None:
        (directory / SNAKEMAKE_FILE).write_text(yaml.safe_dump(options))
    return directory


def test_search_path_order(project, isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("MDFLOW_PROFILE_PATH", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert search_path(project) == [
        project / "profiles", tmp_path / "a", tmp_path / "b", isolated_env / "mdflow" / "profiles",
        SHIPPED_PROFILES,
    ]


def test_shipped_local_profile(project):
    profile = load_profile("local", project)
    assert profile.path == (SHIPPED_PROFILES / "local").resolve()
    assert profile.chain == [profile.path]
    assert profile.scheduler == "local"
    assert profile.site["workdir"] == "scratch"
    assert profile.snakemake["cores"] == "all"
    assert profile.snakemake["rerun-incomplete"] is True


def test_shipped_ci_extends_local(project):
    profile = load_profile("ci", project)
    assert profile.chain == [(SHIPPED_PROFILES / "ci").resolve(), (SHIPPED_PROFILES / "local").resolve()]
    assert "extends" not in profile.site
    assert profile.site["configfile"] == "config/ci.yaml"
    assert profile.site["description"].startswith("the tiny deterministic campaign")  # ci's, not local's
    assert profile.site["scheduler"] == "local"  # inherited
    assert profile.site["workdir"] == "scratch"  # inherited
    assert profile.snakemake["cores"] == 2  # ci overrides local's "all"
    assert profile.snakemake["latency-wait"] == 5  # inherited
    assert profile.snakemake["show-failed-logs"] is True


def test_project_profile_takes_precedence_over_shipped(project):
    own = make_profile(project / "profiles", "local", {"scheduler": "slurm", "workdir": "/scratch/me"},
                       {"jobs": 10})
    profile = load_profile("local", project)
    assert profile.path == own.resolve()
    assert profile.scheduler == "slurm"
    assert profile.snakemake == {"jobs": 10}


def test_profile_path_env_is_searched(project, monkeypatch, tmp_path):
    first, second = tmp_path / "site-a", tmp_path / "site-b"
    first.mkdir()
    cluster = make_profile(second, "cluster", {"scheduler": "pbs"}, {"jobs": 50})
    monkeypatch.setenv("MDFLOW_PROFILE_PATH", os.pathsep.join([str(first), str(second)]))
    profile = load_profile("cluster", project)
    assert profile.path == cluster.resolve()
    assert profile.scheduler == "pbs"
    assert profile.snakemake == {"jobs": 50}


def test_profile_path_env_beats_user_config_and_shipped(project, monkeypatch, tmp_path, isolated_env):
    env_dir = tmp_path / "site"
    from_env = make_profile(env_dir, "local", {"scheduler": "cobalt"})
    make_profile(isolated_env / "mdflow" / "profiles", "local", {"scheduler": "pbs"})
    monkeypatch.setenv("MDFLOW_PROFILE_PATH", str(env_dir))
    assert load_profile("local", project).path == from_env.resolve()


def test_user_config_dir_is_searched(project, isolated_env):
    mine = make_profile(isolated_env / "mdflow" / "profiles", "laptop", {"scheduler": "local"}, {"cores": 4})
    profile = load_profile("laptop", project)
    assert profile.path == mine.resolve()
    assert profile.snakemake == {"cores": 4}


def test_directory_without_site_file_is_skipped(project):
    (project / "profiles" / "local").mkdir(parents=True)
    (project / "profiles" / "local" / SNAKEMAKE_FILE).write_text("cores: 1\n")
    assert load_profile("local", project).path == (SHIPPED_PROFILES / "local").resolve()


def test_profile_by_relative_path(project):
    directory = make_profile(project / "site-profiles", "hpc", {"scheduler": "slurm"}, {"jobs": 3})
    profile = load_profile("site-profiles/hpc", project)
    assert profile.path == directory.resolve()
    assert profile.scheduler == "slurm"


def test_extends_merges_derived_values_win(project):
    profiles = project / "profiles"
    make_profile(profiles, "base",
                 {"description": "base", "scheduler": "slurm", "workdir": "/scratch/base"},
                 {"jobs": 10, "latency-wait": 60, "default-resources": {"mem_mb": 1000, "runtime": 60},
                  "retries": 1})
    make_profile(profiles, "derived",
                 {"description": "derived", "extends": "base", "configfile": "config/big.yaml"},
                 {"jobs": 99, "default-resources": {"runtime": 600}})

    profile = load_profile("derived", project)
    assert profile.site == {"description": "derived", "scheduler": "slurm", "workdir": "/scratch/base",
                            "configfile": "config/big.yaml"}
    assert profile.snakemake == {"jobs": 99, "latency-wait": 60, "retries": 1,
                                 "default-resources": {"mem_mb": 1000, "runtime": 600}}
    assert profile.chain == [(profiles / "derived").resolve(), (profiles / "base").resolve()]


def test_three_level_extends_chain(project):
    profiles = project / "profiles"
    make_profile(profiles, "a", {"scheduler": "pbs", "workdir": "/a"}, {"jobs": 1, "cores": 1})
    make_profile(profiles, "b", {"extends": "a", "workdir": "/b"}, {"jobs": 2})
    make_profile(profiles, "c", {"extends": "b"})  # no config.v9+.yaml at all
    profile = load_profile("c", project)
    assert profile.site == {"scheduler": "pbs", "workdir": "/b"}
    assert profile.snakemake == {"jobs": 2, "cores": 1}
    assert [p.name for p in profile.chain] == ["c", "b", "a"]


def test_project_profile_extends_shipped_profile_of_same_name(project):
    own = make_profile(project / "profiles", "local", {"extends": "local", "workdir": "/tmp/mine"},
                       {"cores": 3})
    profile = load_profile("local", project)
    assert profile.chain == [own.resolve(), (SHIPPED_PROFILES / "local").resolve()]
    assert profile.site["workdir"] == "/tmp/mine"
    assert profile.site["scheduler"] == "local"
    assert "extends" not in profile.site
    assert profile.snakemake["cores"] == 3
    assert profile.snakemake["rerun-incomplete"] is True


def test_extends_cycle(project):
    profiles = project / "profiles"
    make_profile(profiles, "a", {"extends": "b"})
    make_profile(profiles, "b", {"extends": "a"})
    with pytest.raises(MdflowError) as info:
        load_profile("a", project)
    assert "cycle" in str(info.value)
    assert SITE_FILE in str(info.value)


def test_extends_longer_cycle(project):
    profiles = project / "profiles"
    make_profile(profiles, "a", {"extends": "b"})
    make_profile(profiles, "b", {"extends": "c"})
    make_profile(profiles, "c", {"extends": "a"})
    with pytest.raises(MdflowError, match="cycle"):
        load_profile("b", project)


def test_extends_unknown_parent(project):
    make_profile(project / "profiles", "child", {"extends": "no-such-parent"})
    with pytest.raises(MdflowError) as info:
        load_profile("child", project)
    assert "'no-such-parent'" in str(info.value)


def test_unknown_key_names_key_and_file(project):
    make_profile(project / "profiles", "typo", {"schedular": "slurm"})
    with pytest.raises(MdflowError) as info:
        load_profile("typo", project)
    message = str(info.value)
    assert "'schedular'" in message
    assert str(project / "profiles" / "typo" / SITE_FILE) in message
    assert "scheduler" in message  # the known keys are listed


def test_unknown_key_in_parent_names_parent_file(project):
    profiles = project / "profiles"
    make_profile(profiles, "parent", {"scheduler": "slurm", "qeue": "gpu"})
    make_profile(profiles, "child", {"extends": "parent"})
    with pytest.raises(MdflowError) as info:
        load_profile("child", project)
    assert "'qeue'" in str(info.value)
    assert str(profiles / "parent" / SITE_FILE) in str(info.value)


def test_unknown_scheduler_lists_allowed_values(project):
    make_profile(project / "profiles", "lsf", {"scheduler": "lsf"})
    with pytest.raises(MdflowError) as info:
        load_profile("lsf", project)
    message = str(info.value)
    assert "'lsf'" in message
    assert "lsf" in message and SITE_FILE in message
    for allowed in SCHEDULERS:
        assert allowed in message


def test_wrong_value_type(project):
    make_profile(project / "profiles", "bad", {"workdir": 42})
    with pytest.raises(MdflowError) as info:
        load_profile("bad", project)
    assert "'workdir'" in str(info.value)
    assert "42" in str(info.value)
    assert "str" in str(info.value)


def test_invalid_yaml_in_site_file(project):
    make_profile(project / "profiles", "broken", "scheduler: [slurm\n")
    with pytest.raises(MdflowError) as info:
        load_profile("broken", project)
    assert "broken" in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_unknown_profile_name(project):
    with pytest.raises(MdflowError) as info:
        load_profile("nonexistent-site", project)
    message = str(info.value)
    assert "'nonexistent-site'" in message
    assert str(project / "profiles") in message
    assert str(SHIPPED_PROFILES) in message


def test_materialize_writes_merged_options(project):
    profile = load_profile("ci", project)
    target = materialize(profile, project)
    assert target == project / ".mdflow" / "profiles" / "ci"
    written = yaml.safe_load((target / SNAKEMAKE_FILE).read_text())
    assert written == profile.snakemake
    assert written["cores"] == 2
    assert written["latency-wait"] == 5
    assert written["rerun-incomplete"] is True


def test_materialize_custom_chain_and_overwrite(project):
    profiles = project / "profiles"
    make_profile(profiles, "base", {"scheduler": "slurm"}, {"jobs": 10, "retries": 2})
    make_profile(profiles, "derived", {"extends": "base"}, {"jobs": 20})
    target = materialize(load_profile("derived", project), project)
    assert yaml.safe_load((target / SNAKEMAKE_FILE).read_text()) == {"jobs": 20, "retries": 2}

    (profiles / "derived" / SNAKEMAKE_FILE).write_text("jobs: 30\n")
    target = materialize(load_profile("derived", project), project)
    assert yaml.safe_load((target / SNAKEMAKE_FILE).read_text()) == {"jobs": 30, "retries": 2}


def test_materialize_path_name(project):
    make_profile(project / "site-profiles", "hpc", {"scheduler": "slurm"}, {"jobs": 3})
    target = materialize(load_profile("site-profiles/hpc", project), project)
    assert target == project / ".mdflow" / "profiles" / "site-profiles__hpc"
    assert yaml.safe_load((target / SNAKEMAKE_FILE).read_text()) == {"jobs": 3}
