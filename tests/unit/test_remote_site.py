"""The pure parts of remote sites (executors/remote.py, sitelink.py, ssh.py): the job command line
as the site runs it (golden file), checksum and check answers, which files a campaign's jobs read,
and the sheet's site assignment."""

import shlex
from pathlib import Path

import pytest

from golden import assert_golden
from mdflow.executors.remote import parse_checksums, remote_command
from mdflow.executors.sitelink import definition_files, sheet_sites, sites_of
from mdflow.executors.ssh import parse_remote_check

# What Snakemake 9's format_job_exec wrote for a simulate job of the ci campaign (a real batch
# script of tests/integration/test_slurm.py), with the project and the venv where mdflow ran.
LOCAL_COMMAND = (
    "/opt/lab/.venv/bin/python -m snakemake --snakefile '/opt/lab/.venv/lib/python3.11/site-packages/mdflow/workflow/"
    "Snakefile' --target-jobs 'simulate:system=ala,replica=0,segment=000' --allowed-rules simulate --cores 'all' "
    "--attempt 1 --force-use-threads  --wait-for-files '/home/me/my project/.snakemake/tmp.xmv4u3ee' "
    "'scratch/ci/ala/input/minimized.xml' --force --target-files-omit-workdir-adjustment --max-inventory-time 0 "
    "--scheduler 'ilp' --scheduler-solver-path '/opt/lab/.venv/bin' --runtime-source-cache-path "
    "'/root/.cache/snakemake/snakemake/source-cache/snakemake-runtime-cache/tmph2go_ze5' --configfiles "
    "'/home/me/my project/config/ci.yaml' '/home/me/my project-other/x.yaml' --mode 'remote'")


def test_the_job_command_names_the_sites_python_workflow_project_and_caches():
    command = remote_command(
        LOCAL_COMMAND,
        [("/opt/lab/.venv/bin/python", "/sw/md/bin/python"),
         ("/opt/lab/.venv/lib/python3.11/site-packages/mdflow/workflow/Snakefile", "/sw/md/lib/mdflow/workflow/Snakefile"),
         ("/home/me/my project", "/scratch/me/it's here")],
        {"--runtime-source-cache-path": "/scratch/me/it's here/.snakemake/source-cache",
         "--scheduler-solver-path": "/sw/md/bin"})
    assert_golden("remote_command.txt", command.replace(" --", "\n--") + "\n")
    words = shlex.split(command)
    assert "/home/me/my project-other/x.yaml" in words  # a sibling directory is not the project
    assert not any(w.startswith(("/home/me/my project/", "/opt/lab", "/root/")) for w in words)


def test_shell_operators_stay_operators_and_everything_else_is_one_word():
    command = remote_command("export A='$(x)' && python -m snakemake --x 'a b'", [("python", "/p/python")], {})
    assert command == "export 'A=$(x)' && /p/python -m snakemake --x 'a b'"


def test_checksum_listing_is_read_by_position_and_garbage_is_no_answer():
    digest = "a" * 64
    assert parse_checksums(f"{digest}\n-\n", ["x y", "new\nline"]) == {"x y": digest, "new\nline": None}
    for garbage in ("", f"{digest}\n", "oops\n-\n"):
        with pytest.raises(RuntimeError, match="garbled checksum listing"):
            parse_checksums(garbage, ["a", "b"])


def test_remote_check_answer():
    lacks, found = parse_remote_check("lacks command sbatch\ndir /home/a/x y\nuser mdsitea\nsnakefile /s/Snakefile\n")
    assert lacks == ["command sbatch"]
    assert found == {"dir": "/home/a/x y", "user": "mdsitea", "snakefile": "/s/Snakefile"}


def test_definition_files_are_the_project_files_a_campaign_names(tmp_path):
    project = tmp_path / "p"
    (project / "config").mkdir(parents=True)
    (project / "resources").mkdir()
    (project / "resources/a b.pdb").write_text("x")
    (project / "config/c.yaml").write_text("x")
    (project / "config/ref.json").write_text("x")
    (tmp_path / "outside.pdb").write_text("x")
    (project / "config/s.tsv").write_text("name\tstructure\tsite\nala\tresources/a b.pdb\tsitea\n"
                                          f"far\t{tmp_path / 'outside.pdb'}\t\n")
    config = {"systems": "config/s.tsv", "reference": "config/ref.json", "results": "results", "threads": 1}
    assert definition_files(config, [str(project / "config/c.yaml")], project) == [
        "config/c.yaml", "config/ref.json", "config/s.tsv", "resources/a b.pdb"]
    assert sheet_sites(config, project) == {"ala": "sitea"}
    assert sheet_sites(None, project) == {}


def test_a_profile_drives_its_listed_sites_or_itself():
    assert sites_of({"name": "x"}) == [{"name": "x"}]
    assert sites_of({"name": "both", "sites": [{"name": "a"}, {"name": "b"}]}) == [{"name": "a"}, {"name": "b"}]


def test_bulk_transfer_paths_are_relative_to_the_project(tmp_path):
    from mdflow.executors.remote import RemoteSite
    from mdflow.errors import MdflowError

    site = RemoteSite({"name": "a", "host": "h", "remote_dir": "x"}, tmp_path)
    site.side = type("Side", (), {"directory": "/home/a/x", "user": "a", "snakefile": ""})()
    assert site.remote_path("logs/a b.log") == "/home/a/x/logs/a b.log"
    assert site.remote_path(tmp_path / "out/1.txt") == "/home/a/x/out/1.txt"
    assert site.relative(tmp_path / "out/1.txt") == "out/1.txt"
    with pytest.raises(MdflowError, match=r"lies outside the project .*: move it into the project"):
        site.remote_path(Path("/etc/passwd"))
