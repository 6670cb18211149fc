"""A gunicorn worker's boot (evalserver/wsgi.py): the views imported and what boot made
frozen out of the cyclic garbage collector. Checked in a fresh interpreter, as a worker
starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import gc, json, sys
import evalserver.wsgi
frozen = gc.get_freeze_count()
tracked = len(gc.get_objects())
print(json.dumps({
    "frozen": frozen,
    "tracked": tracked,
    "views_loaded": "leaderboard.views" in sys.modules,
}))
"""


def test_a_worker_boots_with_its_views_loaded_and_frozen():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "evalserver.settings"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["views_loaded"]
    # Tens of thousands of objects made at boot are out of the collector's full passes;
    # what remains tracked is what the probe itself made since.
    assert found["frozen"] > 20_000, found
    assert found["tracked"] < found["frozen"] / 10, found
