"""hdl.flow.engine: a sweep on a real Dask cluster (a scheduler and two worker processes on
127.0.0.1) equals the local run and survives a worker killed mid-point; the shared cache is
written atomically, a failed point is not cached, a rerun is all cache hits; Ctrl-C is one line
on the pool and on Dask. Points are a tiny model without synthesis (train + RTL generation,
about a second each)."""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from hdl.__main__ import main
from hdl.flow import sweep as sw
from hdl.flow.engine import (Scheduler, SchedulerError, TaskFailure, parse_scheduler,
                             run_tasks)
from hdl.flow.progress import Progress

from .test_report import TINY

distributed = pytest.importorskip("distributed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
START_TIMEOUT = 90      # seconds for the scheduler and the workers to come up
RUN_TIMEOUT = 300       # seconds for one sweep through the cluster
VOLATILE = ("cached", "seconds")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``dask scheduler`` and two worker processes (no nanny: killing one really kills it)."""

    def __init__(self, folder):
        self.folder = folder
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs = []
        self._start("scheduler", [
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
            str(self.port), "--no-dashboard", "--idle-timeout", f"{RUN_TIMEOUT}s"])
        self.workers = [None, None]
        self.revive()

    def _start(self, name, args):
        with open(self.folder / f"{name}.log", "a") as log:
            proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        proc.log = self.folder / f"{name}.log"
        self.procs.append(proc)
        return proc

    def revive(self):
        """Start the workers that are not running (a test may have killed one) and wait
        until the scheduler has both."""
        for i, w in enumerate(self.workers):
            if w is None or w.poll() is not None:
                self.workers[i] = self._start(f"worker{i}", [
                    "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                    "--no-nanny", "--no-dashboard", "--death-timeout", "60"])
        with distributed.Client(self.address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(len(self.workers), timeout=START_TIMEOUT)

    def stop(self):
        for p in self.procs:        # nothing of theirs is kept: no graceful shutdown
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    c = None
    try:
        c = Cluster(tmp_path_factory.mktemp("dask"))
        yield c
    finally:
        if c is not None:
            c.stop()


@pytest.fixture
def cluster(dask_cluster):
    """The module's cluster with both workers running."""
    dask_cluster.revive()
    return dask_cluster


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _points(folder):
    with open(folder / "sweep.json") as f:
        data = json.load(f)
    return [{k: v for k, v in p.items() if k not in VOLATILE} for p in data["points"]]


def _sweep_cli(spec, out, cache, *extra):
    return subprocess.Popen([sys.executable, "-m", "hdl", "sweep", str(spec), "--weight-bits",
                             "3,4", "--act-bits", "spec,6", "--no-synth", "-o", str(out),
                             "--cache", str(cache), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sweep_on_a_dask_cluster_equals_the_local_run(spec, tmp_path, cluster, capfd):
    c = cluster
    proc = _sweep_cli(spec, tmp_path / "dask", tmp_path / "cache", "--scheduler", c.address)
    try:
        # meanwhile the local run: the same four points in this process
        local = sw.run_sweep(spec, weight_bits=(3, 4), act_bits=(None, 6), targets=(),
                             jobs=1, output=tmp_path / "local",
                             cache_dir=tmp_path / "cache-local", progress=Progress(stream=None))
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert [p["label"] for p in local["points"]] == ["w3-accauto", "w3-accauto-act6",
                                                      "w4-accauto", "w4-accauto-act6"]
    assert all("error" not in p for p in local["points"])
    # the activation axis is real: 6-bit outputs keep their int_bits
    assert local["points"][1]["outputs"] == ["fixed<6,4,RND_CONV,SAT>",
                                             "ufixed<6,3,RND_CONV,SAT>",
                                             "fixed<6,4,RND_CONV,SAT>"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == (f"tiny_rep: 4 points (0 cached, 0 failed) -> "
                        f"{tmp_path / 'dask' / 'sweep.md'}\n")
    assert f"scheduler {c.address}: 2 workers" in r.stderr
    finished = re.findall(r"\] \[(\d)/4\] (\S+): accuracy [\d.]+, latency \d+, II 1 "
                          r"\([\d.]+ s\) \(elapsed [^)]+\)\n", r.stderr)
    assert [f[0] for f in finished] == ["1", "2", "3", "4"]
    assert ", ETA " in r.stderr
    assert sorted(f[1] for f in finished) == [p["label"] for p in local["points"]]
    # every point ran on the workers, not in the client
    logs = "".join(w.log.read_text() for w in c.workers)   # (tiny_rep points only here)
    for p in local["points"]:
        assert f"{p['label']}: train done" in logs
    assert _points(tmp_path / "dask") == _points(tmp_path / "local")

    # a rerun is all cache hits: nothing is submitted
    assert main(["sweep", str(spec), "--weight-bits", "3,4", "--act-bits", "spec,6",
                 "--no-synth", "-o", str(tmp_path / "dask"), "--cache", str(tmp_path / "cache"),
                 "--scheduler", c.address]) == 0
    out, err = capfd.readouterr()
    assert out == (f"tiny_rep: 4 points (all cache hits, 0 failed) -> "
                   f"{tmp_path / 'dask' / 'sweep.md'}\n")
    assert "4 in the cache" in err and "all cache hits: nothing to run" in err
    assert _points(tmp_path / "dask") == _points(tmp_path / "local")
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(p["key"] for p in local["points"])


def test_a_worker_killed_mid_point_has_its_point_rerun_elsewhere(spec, tmp_path, cluster):
    c = cluster
    seen = {w.pid: len(w.log.read_text()) for w in c.workers}    # logs of earlier tests
    proc = subprocess.Popen([sys.executable, "-m", "hdl", "sweep", str(spec),
                             "--weight-bits", "5,6", "--act-bits", "spec,7", "--no-synth",
                             "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                             "--scheduler", c.address],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        victim, label = None, None
        deadline = time.monotonic() + RUN_TIMEOUT
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            for w in c.workers:
                m = re.search(r"\] (w[56]-\S+): train \.\.\.\n",
                              w.log.read_text()[seen[w.pid]:])
                if m:
                    victim, label = w, m[1]
                    victim.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.02)
        assert victim is not None, "no point started on a worker"
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    # the point was cut short on the killed worker and done whole by the other one
    killed_log = victim.log.read_text()[seen[victim.pid]:]
    assert f"{label}: generate RTL done" not in killed_log, killed_log[-2000:]
    survivor = next(w for w in c.workers if w is not victim)
    assert f"{label}: generate RTL done" in survivor.log.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert out == f"tiny_rep: 4 points (0 cached, 0 failed) -> {tmp_path / 'out' / 'sweep.md'}\n"
    points = _points(tmp_path / "out")
    assert len(points) == 4 and all("error" not in p for p in points)
    # only finished points in the cache (the killed one's temporary folder aside)
    entries = [e for e in os.listdir(tmp_path / "cache") if ".tmp-" not in e]
    assert sorted(entries) == sorted(p["key"] for p in points)


def test_failed_point_is_reported_and_not_cached_and_entries_are_whole(spec, tmp_path,
                                                                         capfd):
    cache = tmp_path / "cache"
    argv = ["sweep", str(spec), "--weight-bits", "3", "--strategy", "folded", "--reuse",
            "4,100", "--no-synth", "-o", str(tmp_path / "out"), "--cache", str(cache),
            "--jobs", "1"]
    assert main(argv) == 1
    out, err = capfd.readouterr()
    why = ("layer 0 (dense): reuse 100 exceeds the layer's 64 inputs (a folded layer takes at "
           "most one input per cycle); set hardware.layers.0.reuse")
    assert out == f"tiny_rep: 2 points (0 cached, 1 failed) -> {tmp_path / 'out' / 'sweep.md'}\n"
    assert err.endswith(f"failed: w3-accauto-folded-r100: {why}\n")
    assert re.search(rf"\[2/2\] w3-accauto-folded-r100: FAILED: {re.escape(why)} "
                     rf"\(elapsed \d+ s\)\n", err)
    points = json.loads((tmp_path / "out" / "sweep.json").read_text())["points"]
    assert points[0]["performance"] == {"latency_cycles": points[0]["performance"][
        "latency_cycles"], "ii_cycles": 4}
    assert points[1]["error"] == why
    assert f"| 3 | auto | folded | 100 | failed: {why} |" in \
        (tmp_path / "out" / "sweep.md").read_text()
    # one entry: the good point's, whole; nothing of the failed one, no temporary files
    assert os.listdir(cache) == [points[0]["key"]]
    entry = cache / points[0]["key"]
    assert json.loads((entry / "result.json").read_text())["label"] == "w3-accauto-folded-r4"

    # an entry without its result.json (as if its writer had died) is no cache hit: redone
    (entry / "result.json").unlink()
    assert main(argv) == 1
    out, err = capfd.readouterr()
    assert "2 points, 0 in the cache" in err
    assert json.loads((entry / "result.json").read_text())["label"] == "w3-accauto-folded-r4"
    assert main(argv) == 1
    out, err = capfd.readouterr()
    assert "2 points, 1 in the cache" in err and "(1 cached, 1 failed)" in out


def test_result_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    sw.write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}

    def fail(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        sw.write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["result.json"]


@pytest.mark.parametrize("text, want", [
    (None, None), ("local", Scheduler("local")), ("local:3", Scheduler("local", workers=3)),
    ("tcp://127.0.0.1:8786", Scheduler("tcp", address="tcp://127.0.0.1:8786")),
    ("tcp://node-7.cluster:8786", Scheduler("tcp", address="tcp://node-7.cluster:8786")),
])
def test_parse_scheduler(text, want):
    assert parse_scheduler(text) == want


@pytest.mark.parametrize("text, message", [
    ("localhost:8786", "--scheduler: 'localhost:8786' is not tcp://HOST:PORT, local or local:N"),
    ("local:0", "--scheduler: 'local:0': N in local:N must be a positive integer"),
    ("tcp://h:70000", "--scheduler: 'tcp://h:70000': port 70000 is not in 1..65535"),
])
def test_parse_scheduler_errors(text, message):
    with pytest.raises(SchedulerError) as e:
        parse_scheduler(text)
    assert str(e.value) == message


@pytest.mark.parametrize("option, value, message", [
    ("--act-bits", "spec,0", "--act-bits: '0' is not a positive integer or spec"),
    ("--reuse", "2,two", "--reuse: 'two' is not a positive integer or spec"),
    ("--pipeline", "-1", "--pipeline: '-1' is not an integer >= 0 or spec"),
    ("--strategy", "parallel,fast", "--strategy: 'fast' is not parallel, folded or spec"),
    ("--strategy", "folded,folded", "--strategy: 'folded' is given twice"),
    ("--scheduler", "tcp://h", "--scheduler: 'tcp://h' is not tcp://HOST:PORT, local or "
                               "local:N"),
    ("--scheduler", "local --jobs 2", "--jobs: not with --scheduler (the cluster's workers "
                                      "run the points)"),
])
def test_bad_axis_or_scheduler_is_a_one_line_error(spec, tmp_path, capfd, option, value,
                                                   message):
    assert main(["sweep", str(spec), option, *value.split(), "--cache", str(tmp_path / "c"),
                 "-o", str(tmp_path / "o")]) == 2
    assert capfd.readouterr() == ("", f"error: {message}\n")
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


def test_unreachable_scheduler_is_a_one_line_error(spec, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr("hdl.flow.engine.CONNECT_TIMEOUT", 1)
    port = _free_port()
    assert main(["sweep", str(spec), "--weight-bits", "3", "--no-synth", "--cache",
                 str(tmp_path / "c"), "-o", str(tmp_path / "o"), "--scheduler",
                 f"tcp://127.0.0.1:{port}"]) == 2
    err = capfd.readouterr().err.splitlines()
    assert err[-1].startswith(f"error: --scheduler tcp://127.0.0.1:{port}: cannot reach the "
                              f"scheduler: ")
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


def _interrupt_after_first_point_starts(proc, logs):
    """SIGINT ``proc`` once a ``train ...`` line is in one of ``logs`` (callables)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if any(re.search(r"\] w\d-\S+: train \.\.\.\n", log()) for log in logs):
            proc.send_signal(signal.SIGINT)
            return
        time.sleep(0.02)
    raise AssertionError("no point started")


@pytest.mark.parametrize("where", ["pool", "dask"])
def test_ctrl_c_cancels_the_points_and_is_one_line(spec, tmp_path, where, request):
    cache = tmp_path / "cache"
    extra = ["--jobs", "2"]
    if where == "dask":
        c = request.getfixturevalue("cluster")
        seen = {w.pid: len(w.log.read_text()) for w in c.workers}
        extra = ["--scheduler", c.address]
    err_file = tmp_path / "err"
    with open(err_file, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hdl", "sweep", str(spec),
                                 "--weight-bits", "7,8", "--act-bits", "spec,5", "--no-synth",
                                 "-o", str(tmp_path / "out"), "--cache", str(cache), *extra],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                                # SIGINT default in the child: a shell's background job would
                                # pass it on ignored
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if where == "dask":
            logs = [lambda w=w: w.log.read_text()[seen[w.pid]:] for w in c.workers]
        else:
            logs = [err_file.read_text]
        _interrupt_after_first_point_starts(proc, logs)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_file.read_text()
    assert (proc.returncode, out) == (130, ""), err[-2000:]
    assert err.endswith("\ninterrupted\n") and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "out").exists()
    if where == "pool":
        # the running points were stopped and removed their temporary folders
        time.sleep(1)
        assert not cache.exists() or [e for e in os.listdir(cache) if ".tmp-" in e] == []
    else:
        # nothing of the sweep is left on the scheduler
        with distributed.Client(c.address, timeout=START_TIMEOUT) as client:
            deadline = time.monotonic() + 30
            while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                assert time.monotonic() < deadline, "tasks left on the scheduler"
                time.sleep(0.2)


def test_local_cluster_runs_tasks_in_order_and_reports_failures():
    lines = io.StringIO()
    tasks = ["/a/b.v", "/c/d.json", None, "/e"]
    got = run_tasks(os.path.basename, tasks, ["one", "two", "three", "four"],
                    scheduler=parse_scheduler("local:1"), retries=0,
                    progress=Progress(stream=lines))
    assert got[:2] + got[3:] == ["b.v", "d.json", "e"]
    assert isinstance(got[2], TaskFailure) and got[2].error.startswith("TypeError: ")
    text = lines.getvalue()
    assert re.search(r"\] LocalCluster: 1 workers, dashboard http://127\.0\.0\.1:\d+/status\n",
                     text)
    assert re.search(rf"\] \[\d/4\] three: FAILED: {re.escape(got[2].error)} \(elapsed ", text)
    assert len(re.findall(r"\] \[\d/4\] ", text)) == 4
