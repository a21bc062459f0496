import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_frozen_web_modules_do_not_load_heavy_libraries():
    code = (
        "import sys, world, world.build, world.cli, world.store, world.text_index, world.image_index, tools.frozen; "
        "print(','.join(m for m in ('torch', 'transformers', 'faiss', 'resvg_py', 'bm25s') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert res.stdout.strip() == ""
