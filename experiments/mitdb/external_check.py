"""Issue 18, a check on records never seen: the shipped ``mitdb-beats`` preset on lead II of two other devices' ECGs.

    python experiments/mitdb/external_check.py [--ptbxl-dir ../shared/data/ptbxl] \
        [--cinc2021-dir ../shared/data/cinc2021-sample] [--workers 2] \
        [--out experiments/mitdb/external_check_results.json]

A report; it chooses nothing, and nothing was chosen on these records. ``mitdb-beats`` was trained on MIT-BIH DS1's
MLII lead (Holter, 360 Hz, 30 min, 22 patients) and is scored on DS1 records left out; here it reads lead II (MLII's
closest standard lead) of 12-lead, 10 s, 500 Hz recordings of other devices and populations, through the package's
folder path (``serving.folder.predict_folder``, as ``ecgsl predict --data-dir DIR --lead II --recursive``). These
records carry no beat labels, only record-level statements, so the check is by record:

- ``pvc``: records with a premature ventricular beat statement (PTB-XL ``PVC``, ``BIGU``, ``TRIGU``; SNOMED PVC /
  VPB): should hold at least one beat called V;
- ``pac``: a premature atrial beat statement and no ventricular one (PTB-XL ``PAC``, ``SVARR``; SNOMED PAC / SVPB);
- ``sinus``: sinus rhythm (PTB-XL ``SR``; SNOMED sinus rhythm, tachycardia, bradycardia, arrhythmia) with neither:
  a beat called V or S there is, as far as the statements tell, a false call (the statements of a 10 s record list
  its ectopic beats; a missed statement would make a true call look false, so this is an upper bound of the false
  calls);
- ``other``: everything else (AF, flutter, paced, no rhythm statement).

Figures per group: records, beats, beats called each class, records with at least one V (S) call; for ``sinus`` the
share of its beats called V and S (false calls per beat, to set beside the DS1 figures' V +P), for ``pvc`` the share
of its records with a V call. Small samples (16 PVC records in the PTB-XL subset). Last stdout line one JSON object.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.external_check import (PTBXL_ATRIAL, PTBXL_VENTRICULAR, SNOMED,  # noqa: E402
                                                  cinc2021_references, external_arguments, ptbxl_references)

log = logging.getLogger("experiments.mitdb.external_check")
MODEL = "mitdb-beats"
LEAD = "II"
CLASSES = ("N", "S", "V", "F", "Q")


def ectopy_group(codes, ventricular, atrial, sinus) -> str:
    """A record's group (the module docstring) from its codes and the code sets of its database."""
    codes = set(codes)
    if codes & ventricular:
        return "pvc"
    if codes & atrial:
        return "pac"
    return "sinus" if codes & sinus else "other"


def summarise(rows, groups) -> dict:
    """Per group: records, beats, beats per called class, records with a V / S call; the false-call shares of
    ``sinus`` and the record-level V detection of ``pvc`` (``rows``: ``predict_folder``'s per-beat rows)."""
    out = {}
    for row in rows:
        group = groups.get(Path(row["record"]).name, "other")
        g = out.setdefault(group, Counter())
        g["records"] += 1
        if row["status"] != "ok":
            g["refused"] += 1
            continue
        g["beats"] += int(row["n_beats"])
        for c in CLASSES:
            g[f"called_{c}"] += int(row[f"n_{c}"])
        g["records_with_V"] += int(row["n_V"]) > 0
        g["records_with_S"] += int(row["n_S"]) > 0
    out = {k: dict(v) for k, v in sorted(out.items())}
    for g in out.values():
        for key in ("beats", "refused", "records_with_V", "records_with_S") + tuple(f"called_{c}" for c in CLASSES):
            g.setdefault(key, 0)
    sinus, pvc = out.get("sinus", {}), out.get("pvc", {})
    figures = {"sinus_beats": sinus.get("beats", 0), "sinus_called_V": sinus.get("called_V", 0),
               "sinus_called_S": sinus.get("called_S", 0), "sinus_records": sinus.get("records", 0),
               "sinus_records_with_V": sinus.get("records_with_V", 0), "pvc_records": pvc.get("records", 0),
               "pvc_records_with_V": pvc.get("records_with_V", 0)}
    figures["sinus_V_share_of_beats"] = (figures["sinus_called_V"] / figures["sinus_beats"]
                                         if figures["sinus_beats"] else None)
    figures["sinus_S_share_of_beats"] = (figures["sinus_called_S"] / figures["sinus_beats"]
                                         if figures["sinus_beats"] else None)
    figures["pvc_records_with_V_share"] = (figures["pvc_records_with_V"] / figures["pvc_records"]
                                           if figures["pvc_records"] else None)
    return {"records": len(rows), "groups": out, "figures": figures}


def main(argv=None) -> int:
    args = external_arguments(__doc__, argv)
    from ecgsl_keras.serving.folder import predict_folder
    from ecgsl_keras.serving.inference import load_model

    _, ptbxl_codes = ptbxl_references(args.ptbxl_dir)
    _, cinc2021_codes = cinc2021_references(args.cinc2021_dir)
    sets = {"ptbxl": (args.ptbxl_dir / "records500",
                      {name: ectopy_group(codes, PTBXL_VENTRICULAR, PTBXL_ATRIAL, {"SR"})
                       for name, codes in ptbxl_codes.items()}),
            "cinc2021": (args.cinc2021_dir,
                         {name: ectopy_group(codes, SNOMED["ventricular"], SNOMED["atrial"], SNOMED["sinus"])
                          for name, codes in cinc2021_codes.items()})}
    predictor = load_model(MODEL)
    result = {"model": MODEL, "lead": LEAD, "command": "python experiments/mitdb/external_check.py"
              + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))}
    for key, (folder, groups) in sets.items():
        t0 = time.perf_counter()
        rows = predict_folder(predictor, folder, lead=LEAD, workers=args.workers, progress=False, recursive=True)
        result[key] = dict(summarise(rows, groups), seconds=round(time.perf_counter() - t0, 1))
        result[key]["sinus_records_called_V"] = sorted(
            ({"record": Path(r["record"]).name, "beats": int(r["n_beats"]), "called_V": int(r["n_V"])} for r in rows
             if r["status"] == "ok" and int(r["n_V"]) and groups.get(Path(r["record"]).name) == "sinus"),
            key=lambda item: item["record"])
        log.info("%s: %s", key, result[key]["figures"])
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k]["figures"] for k in sets} | {"command": result["command"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
