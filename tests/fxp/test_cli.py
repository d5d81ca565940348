"""python -m fxp: every error is one line and exit 2, Ctrl-C is one line and exit 130, and
neither leaves anything behind."""

import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import yaml

from fxp.cli import main
from fxp.nn import load_spec

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "digits_mlp.yaml")


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped fxp.cli.main")
    out, err = capsys.readouterr()
    return code, out, err


def test_output_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.txt").write_text("keep")
    code, out, err = _run(capsys, "train", EXAMPLE, "-o", "out.txt")
    assert (code, out, err) == (2, "", "error: -o out.txt: exists and is not a directory\n")
    code, _, err = _run(capsys, "quantize", EXAMPLE, "--weights", "w.npz", "-o", "out.txt/a")
    assert (code, err) == (2, "error: -o out.txt/a: out.txt exists and is not a directory\n")
    assert os.listdir(tmp_path) == ["out.txt"] and (tmp_path / "out.txt").read_text() == "keep"


def test_quantize_says_what_is_wrong_with_the_weights_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(EXAMPLE) as f:
        (tmp_path / "spec.yaml").write_text(f.read())
    np.savez(tmp_path / "obj.npz", **{"0.weight": np.array([{"a": 1}], dtype=object)})
    np.savez(tmp_path / "text.npz", **{"0.weight": np.array(["a", "b"])})
    np.save(tmp_path / "one.npy", np.zeros(3))
    np.savez(tmp_path / "int.npz", **{"0.weight": np.zeros((2, 2)), "0.bias": np.arange(2)})
    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as z:      # a zip, not numpy's
        z.writestr("a.txt", "hello")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "int.npz").read_bytes()[:-30])
    before = sorted(os.listdir(tmp_path))
    for weights, msg in [
            ("spec.yaml", "spec.yaml: not an .npz archive of float weights"),
            ("one.npy", "one.npy: not an .npz archive of float weights"),
            ("obj.npz", "obj.npz: not an .npz archive of float weights"),
            ("text.npz", "text.npz: not an .npz archive of float weights ('0.weight' holds "
                         "<U1)"),
            ("int.npz", "int.npz: not an .npz archive of float weights ('0.bias' holds int64)"),
            ("zip.npz", "zip.npz: not an .npz archive of float weights ('a.txt' is not an "
                        "array)"),
            ("cut.npz", "cut.npz: not an .npz archive of float weights"),
            ("missing.npz", "missing.npz: no such file"),
            (".", ".: is a directory, not an .npz archive of float weights")]:
        code, out, err = _run(capsys, "quantize", "spec.yaml", "--weights", weights, "-o", "art")
        assert (code, out, err) == (2, "", f"error: {msg}\n")
    assert sorted(os.listdir(tmp_path)) == before


def test_keyboard_interrupt_is_one_line_and_exit_130(capsys, monkeypatch):
    import fxp.nn.spec

    def interrupted(path):
        raise KeyboardInterrupt
    monkeypatch.setattr(fxp.nn.spec, "load_spec", interrupted)
    monkeypatch.delenv("FXP_TRACEBACK", raising=False)
    code, out, err = _run(capsys, "name", EXAMPLE)
    assert (code, out, err) == (130, "", "interrupted\n")


def test_sigint_during_training_exits_130_and_leaves_nothing(tmp_path):
    spec = load_spec(EXAMPLE).dump()
    spec["train"]["epochs"] = 10_000
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "art"
    env = {k: v for k, v in os.environ.items() if k != "FXP_TRACEBACK"}
    # SIGINT default in the child: a shell's background job would pass it on ignored
    with subprocess.Popen([sys.executable, "-m", "fxp", "train", str(tmp_path / "s.yaml"),
                           "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as p:
        try:
            first = p.stderr.readline()             # training has started
            assert first.startswith("epoch "), first + p.stderr.read()
            p.send_signal(signal.SIGINT)
            stdout, stderr = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("epoch ")]
    assert p.returncode == 130, stderr
    assert lines == ["interrupted"] and stdout == ""
    assert os.listdir(tmp_path) == ["s.yaml"]       # no artifact, no temporary beside it


def test_eval_names_a_damaged_artifact_file_in_one_line(tmp_path, capsys):
    spec = load_spec(EXAMPLE).dump()
    spec["train"]["epochs"] = 1
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    art = tmp_path / "art"
    assert _run(capsys, "train", str(tmp_path / "s.yaml"), "-o", str(art), "-q")[0] == 0
    (art / "float_weights.npz").write_text("junk")
    code, out, err = _run(capsys, "eval", str(art))
    assert (code, out) == (2, "")
    assert err == f"error: {art / 'float_weights.npz'}: not an .npz archive of float weights\n"
    (art / "weights.npz").write_bytes((art / "weights.npz").read_bytes()[:100])
    # (in a subprocess: numpy 2.4's np.load leaves the file open when it is no zip)
    r = subprocess.run([sys.executable, "-m", "fxp", "eval", str(art)], capture_output=True,
                       text=True, env={k: v for k, v in os.environ.items()
                                       if k != "FXP_TRACEBACK"})
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
