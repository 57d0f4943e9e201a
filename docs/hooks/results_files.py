"""MkDocs hook: serve the generated experiment reports from where they are written.

``experiments/<name>/RESULTS.md`` and the pictures beside them are written by the experiment
scripts; the docs link to them at ``experiments/<name>/...`` instead of copying their tables.
This hook adds those files (and the root CHANGELOG.md) to the site without copying them into ``docs/``.
"""
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]


def on_files(files, config):
    for path in sorted((ROOT / "experiments").glob("*/*")):
        if path.name == "RESULTS.md" or path.suffix == ".png":
            files.append(File(str(path.relative_to(ROOT)), src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    # the changelog lives at the repository root, where Keep a Changelog puts it
    files.append(File("CHANGELOG.md", src_dir=str(ROOT), dest_dir=config["site_dir"],
                      use_directory_urls=config["use_directory_urls"]))
    return files
