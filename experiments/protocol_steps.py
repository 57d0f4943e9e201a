"""What the experiment protocols (cinc2017, mitdb, ptbxl) share: a work folder, each step a
``python -m ...`` subprocess with its stderr in a log, finished runs skipped, results written."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("experiments")


class StepRunner:
    def __init__(self, work):
        self.work = Path(work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))

    def _run(self, argv, log_name):
        """Run ``python -m ...`` with stderr to a log file; the last stdout line as JSON (or None)."""
        log_path = self.work / "logs" / f"{log_name}.log"
        log_path.parent.mkdir(exist_ok=True)
        log.info("running %s (log %s)", " ".join(argv), log_path)
        with open(log_path, "a", encoding="utf-8") as err:
            done = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, stderr=err, text=True,
                                  env=self.env, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed with exit code {done.returncode}; see {log_path}")
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else None

    @staticmethod
    def _finished(run_dir: Path) -> bool:
        config = Path(run_dir) / "config.json"
        return config.is_file() and json.loads(config.read_text()).get("status") == "finished"


# RESULTS.md keeps what follows this line when a protocol's report rewrites the file: sections whose figures
# are markers rendered from other results JSON by docs/render_figures.py (issue 18's tables).
RENDERED_TAIL = "<!-- sections below: figures rendered by docs/render_figures.py; the report keeps them -->"


def write_results_markdown(path: Path, markdown: str) -> None:
    """Write ``markdown`` to ``path``, keeping the file's rendered tail (``RENDERED_TAIL`` on)."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    tail = old[old.index(RENDERED_TAIL):] if RENDERED_TAIL in old else ""
    path.write_text(markdown.rstrip("\n") + ("\n\n" + tail if tail else "\n"), encoding="utf-8")


def write_results(folder: Path, result: dict, markdown: str, sort_keys: bool = False) -> None:
    """``results.json`` and ``RESULTS.md`` beside the protocol, then the JSON line on stdout."""
    (folder / "results.json").write_text(json.dumps(result, indent=2, sort_keys=sort_keys) + "\n")
    write_results_markdown(folder / "RESULTS.md", markdown)
    print(json.dumps(result))
