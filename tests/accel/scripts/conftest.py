"""These are plain scikit-learn scripts run in subprocesses by ../test_scripts.py, not tests.

`--doctest-modules` would import each one at collection (sklearn, pandas, a module-level run);
none of them is collected.
"""

collect_ignore_glob = ["*.py"]
