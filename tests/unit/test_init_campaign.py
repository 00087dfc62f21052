"""`mdflow init`: a campaign directory from the shipped template (mdflow/campaign_template)."""

import pytest

from mdflow.errors import MdflowError
from mdflow.init_campaign import init_campaign, run_init
from mdflow.paths import CAMPAIGN_TEMPLATE, SHIPPED_PROFILES
from tests.conftest import REPO


def test_template_config_is_the_demos_protocol():
    """The template must not drift from the demo config the test suite and README exercise:
    only the heading comment and the campaign name may differ."""
    def body(path):
        return [line for line in path.read_text().splitlines()[1:] if not line.startswith("campaign:")]

    assert body(CAMPAIGN_TEMPLATE / "config/config.yaml") == body(REPO / "config/config.yaml")


def test_init_writes_only_the_users_files(tmp_path, capsys):
    target = tmp_path / "villin-study"
    assert run_init([str(target)]) == 0
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == [".gitignore", "README.md", "config/config.yaml", "config/systems.tsv",
                       "resources/alanine-dipeptide.pdb"]
    assert "campaign: villin-study " in (target / "config/config.yaml").read_text()
    assert "wrote a campaign in" in capsys.readouterr().out


def test_a_directory_name_that_cannot_name_a_campaign_keeps_the_templates(tmp_path):
    init_campaign(tmp_path / "my study", with_profiles=False)
    assert "campaign: my-campaign " in (tmp_path / "my study/config/config.yaml").read_text()


def test_profiles_only_when_asked(tmp_path):
    init_campaign(tmp_path / "a", with_profiles=True)
    shipped = sorted(p.name for p in SHIPPED_PROFILES.iterdir() if (p / "mdflow.yaml").exists())
    assert sorted(p.name for p in (tmp_path / "a/profiles").iterdir() if (p / "mdflow.yaml").exists()) == shipped
    init_campaign(tmp_path / "b", with_profiles=False)
    assert not (tmp_path / "b/profiles").exists()


def test_refuses_a_directory_with_files(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old/notes.txt").write_text("mine")
    with pytest.raises(MdflowError, match="already exists and is not an empty directory"):
        init_campaign(tmp_path / "old", with_profiles=False)
    assert (tmp_path / "old/notes.txt").read_text() == "mine"
    assert not (tmp_path / "old/config").exists()


def test_unknown_option_is_one_line(tmp_path):
    with pytest.raises(MdflowError, match="usage: mdflow init"):
        run_init(["--force", str(tmp_path / "x")])
