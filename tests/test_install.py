"""A non-editable install (`pip install .`, `pip install git+URL`) carries the checkpoints."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_built_wheel_loads_the_shipped_checkpoints_outside_the_repo(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("patches_to_pixels-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip would put in site-packages
    script = (
        "import course_lib, pathlib\n"
        "from course_lib import checkpoints, pipelines\n"
        f"assert pathlib.Path(course_lib.__file__).is_relative_to({str(site)!r})\n"
        "assert checkpoints.checkpoint_dir().name == '_shipped', checkpoints.checkpoint_dir()\n"
        "for name in checkpoints.read_manifest():\n"
        "    checkpoints.verify(name)\n"
        "checkpoints.load_pretrained('vit-digits')\n"
        "print(type(pipelines.load('ldm-digits')).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COURSE_CHECKPOINTS"}
    env["PYTHONPATH"] = str(site)
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "TextToImagePipeline"
