"""Every way to activate gpuml.accel, in a fresh Python: the runner (script, -m module),
``gpuml run``, ``GPUML_ACCEL=1``, ``install()`` before and after scikit-learn is imported;
the report at exit, ``-v``, ``--profile``, and nothing printed without covered calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.xdist_group("accel-subprocess")

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn.cluster import KMeans
    X = np.random.RandomState(0).randn(200, 4) + 1e3
    r = Ridge().fit(X, X[:, 0])
    km = KMeans(3, n_init=1, random_state=0).fit(X)
    print("proxy" if "_gpuml_original" in type(r).__dict__ else "plain", sys.argv[1:], km.predict(X[:2]).shape)
    sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
""")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUML_ACCEL") and k != "PYTEST_XDIST_WORKER"}
    return {**env, **extra}


def _run(args, env=None, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, env=env or _env(), cwd=cwd, timeout=180)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("accel") / "user_script.py"
    path.write_text(SCRIPT)
    return path


def test_runner_runs_the_script_with_its_arguments_and_reports_verbose_and_profile(script):
    out = _run([sys.executable, "-m", "gpuml.accel", "-v", "--profile", str(script), "a", "b"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "proxy ['a', 'b'] (2,)"
    assert "where the scikit-learn calls ran" in out.stderr
    lines = out.stderr.splitlines()
    for estimator, method in (("Ridge", "fit"), ("KMeans", "fit"), ("KMeans", "predict")):
        assert any(estimator in line and method in line and "│" in line for line in lines), out.stderr
    assert any(line.startswith("gpuml.accel: Ridge.fit on cpu (") for line in lines), out.stderr  # -v
    assert "mean" in out.stderr and "max" in out.stderr  # --profile


def test_the_scripts_exit_status_is_kept(script):
    out = _run([sys.executable, "-m", "gpuml.accel", "--no-report", str(script), "3"])
    assert out.returncode == 3 and out.stderr == ""
    code = "import sys; from sklearn.cluster import KMeans; print(sys.argv, KMeans.__mro__[1].__name__)"
    out = _run([sys.executable, "-m", "gpuml.accel", "-c", code, "z"])
    assert out.returncode == 0 and out.stdout.strip() == "['-c', 'z'] KMeans" and out.stderr == ""


def test_module_mode_and_gpuml_run(script):
    out = _run([sys.executable, "-m", "gpuml.accel", "-m", "user_script", "x"], cwd=script.parent,
               env=_env(PYTHONPATH=str(script.parent)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "proxy ['x'] (2,)"
    gpuml_cmd = shutil.which("gpuml", path=os.path.dirname(sys.executable))
    out = _run([gpuml_cmd, "run", str(script), "y"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "proxy ['y'] (2,)" and "Ridge" in out.stderr
    bad = _run([gpuml_cmd, "run", str(script.parent / "missing.py")])
    assert bad.returncode == 2 and "can't open file" in bad.stderr
    bad = _run([gpuml_cmd, "run", "--device", "tpu", str(script)])
    assert bad.returncode == 2 and "device must be" in bad.stderr and bad.stdout == ""


def test_environment_variable_activates_any_python(script):
    out = _run([sys.executable, str(script)], env=_env(GPUML_ACCEL="1"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "proxy [] (2,)" and "Ridge" in out.stderr
    plain = _run([sys.executable, str(script)])
    assert plain.stdout.strip() == "plain [] (2,)" and plain.stderr == ""


def test_install_before_or_after_scikit_learn_is_imported_and_silence_without_covered_calls():
    before = ("import gpuml.accel; gpuml.accel.install(); import sklearn.cluster as c; "
              "print(c.KMeans.__mro__[1].__name__)")
    after = ("import sklearn.cluster as c; import gpuml.accel; gpuml.accel.install(); "
             "print('_gpuml_original' in c.KMeans.__dict__)")
    uncovered = ("import gpuml.accel; gpuml.accel.install(); from sklearn.svm import SVR; import numpy as np; "
                 "SVR().fit(np.eye(3), [1, 2, 3]); import sys; print('torch' in sys.modules)")
    outs = [_run([sys.executable, "-c", code]) for code in (before, after, uncovered)]
    assert [o.returncode for o in outs] == [0, 0, 0], [o.stderr for o in outs]
    assert outs[0].stdout.strip() == "KMeans" and outs[1].stdout.strip() == "True"
    assert outs[2].stderr == ""  # no covered call: no table
    assert outs[2].stdout.strip() == "False"  # and gpuml's estimators (torch) were never imported
