"""The one output rule (planner.files, issue 11): what an output may replace, and writes that are
all or nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.files import Output, OutputDir, check_output_dir, check_output_file, write_outputs
from planner.report import predict_page, render
from planner.workflows.kernel import predict_guest


def refused(path: Path, inputs: list[tuple[str, str]] | None = None) -> str:
    with pytest.raises(InputError) as info:
        check_output_file(path, option="--html", what="the HTML report", inputs=inputs or [])
    assert info.value.field == "--html"
    return info.value.message


def test_a_new_name_and_a_regular_file_are_outputs(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "new.html", option="--html", what="x") == tmp_path / "new.html"
    (tmp_path / "old.html").write_text("old")
    check_output_file(tmp_path / "old.html", option="--html", what="x")


def test_what_an_output_may_not_be(tmp_path: Path) -> None:
    (tmp_path / "real.html").write_text("keep")
    (tmp_path / "link.html").symlink_to(tmp_path / "real.html")
    (tmp_path / "dangling.html").symlink_to(tmp_path / "nothing.html")
    os.mkfifo(tmp_path / "fifo.html")
    (tmp_path / "dir.html").mkdir()
    assert refused(tmp_path / "link.html") == (
        f"expected a new file name or a regular file for the HTML report; found the symlink "
        f"{tmp_path / 'link.html'} -> {tmp_path / 'real.html'} (an output never follows a symlink)"
    )
    assert "found the symlink" in refused(tmp_path / "dangling.html")
    assert refused(tmp_path / "fifo.html") == (
        f"expected a new file name or a regular file for the HTML report; found a FIFO "
        f"{tmp_path / 'fifo.html'} (left alone)"
    )
    assert refused(tmp_path / "dir.html").startswith(
        "expected a file name for the HTML report; found the directory"
    )
    assert refused(tmp_path / "no" / "x.html") == (
        f"expected an existing directory to write the HTML report into; found no directory {tmp_path / 'no'}"
    )
    assert refused(tmp_path / "real.html" / "x.html").endswith(f"found the file {tmp_path / 'real.html'}")
    assert not (tmp_path / "nothing.html").exists() and not (tmp_path / "no").exists()


def test_an_input_is_never_an_output_by_any_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "h.yaml"
    host.write_text("host: {}\n")
    os.link(host, tmp_path / "same.yaml")
    monkeypatch.chdir(tmp_path)
    inputs = [("host file", str(host))]
    assert refused(host, inputs=inputs) == (
        f"expected a file that is not an input of this command; found {host}, which is the host file it "
        "reads (left alone)"
    )
    assert refused(Path("same.yaml"), inputs=inputs).endswith(f"the host file {host} it reads (left alone)")
    check_output_file(tmp_path / "other.yaml", option="--html", what="x", inputs=inputs)


def test_a_csv_directory_is_made_in_an_existing_one_only(tmp_path: Path) -> None:
    check_output_dir(tmp_path / "tables", option="--csv", what="the CSV tables")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for path, found in [
        (tmp_path / "no" / "tables", f"found no directory {tmp_path / 'no'}"),
        (tmp_path / "link", "found the symlink"),
    ]:
        with pytest.raises(InputError) as info:
            check_output_dir(path, option="--csv", what="the CSV tables")
        assert found in info.value.message
    assert not (tmp_path / "no").exists() and not (tmp_path / "tables").exists()


def test_a_target_that_changed_since_the_check_is_refused_when_written(tmp_path: Path) -> None:
    """Checked while the options are read, and again right before writing."""
    page = predict_page(predict_guest("debian12-cloud-amd64", 131072))
    pending = render.prepare(page, html=tmp_path / "r.html", csv_dir=tmp_path / "t")
    assert not (tmp_path / "t").exists(), "prepare writes nothing"
    os.mkfifo(tmp_path / "r.html")
    with pytest.raises(InputError, match="found a FIFO"):
        pending.write()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"], "no CSV table, no directory, no temp"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """All or nothing: the second of two files fails (a file-size limit makes its write fail with
    EFBIG), so the first is not renamed into place and the directory made for them is removed."""
    code = textwrap.dedent(
        f"""\
        import resource, signal
        from pathlib import Path
        from planner.files import Output, OutputDir, write_outputs
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        d = Path({str(tmp_path / "t")!r})
        try:
            write_outputs(
                [Output(d / "a.csv", "small", "--csv", "a"), Output(d / "b.csv", "x" * 10000, "--csv", "b")],
                new_dirs=[OutputDir(d, "--csv", "the CSV tables")],
            )
        except OSError as err:
            print("refused", err.strerror)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


def test_written_files_replace_old_ones_with_the_usual_mode(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("old")
    os.chmod(tmp_path / "a.csv", 0o600)
    outputs = [
        Output(tmp_path / "a.csv", "new", "--csv", "a"),
        Output(tmp_path / "b.csv", b"bytes", "--csv", "b"),
    ]
    assert write_outputs(outputs, new_dirs=[OutputDir(tmp_path, "--csv", "t")]) == [o.path for o in outputs]
    assert (tmp_path / "a.csv").read_text() == "new" and (tmp_path / "b.csv").read_bytes() == b"bytes"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
