"""The last step of the edge experiment scripts: stamp the result with its command, write it to ``--out`` and print it
as the last line of stdout (one helper, imported by every script beside it; it imports none of them)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def finish(result: dict, script: str, args, argv=None) -> int:
    """Stamp ``result`` with the command that ran ``script`` (a path from the repository root), write it to ``--out``
    (when given; its folder made) and print it as the last line of stdout; 0."""
    result["command"] = f"python {script} " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0
