"""Issue 18, a check on records never seen: the shipped CinC 2017 presets on other devices' ECGs.

    python experiments/cinc2017/external_check.py [--ptbxl-dir ../shared/data/ptbxl] \
        [--cinc2021-dir ../shared/data/cinc2021-sample] [--mitdb-dir ../shared/data/mitdb] \
        [--models cinc2017 cinc2017-keras cinc2017-edge] [--workers 2] \
        [--out experiments/cinc2017/external_check_results.json]

A report; it chooses nothing and no model, threshold or setting was chosen on these records. The CinC 2017 records
are single-lead AliveCor recordings (about lead I) of 9 to 61 s at 300 Hz; here each served preset of the task
(``MODELS``: the ensemble, its one-Keras-file form and the edge model's TFLite-ready ECG-SL) reads lead I of
12-lead, 10 s, 500 Hz recordings of other devices and populations, through the package's own folder path
(``serving.folder.predict_folder``, as ``ecgsl predict --data-dir DIR --lead I --recursive``):

- ``ptbxl``: the 500-record PTB-XL subset (``records500``). Reference: the record's SCP rhythm statements
  (``scp_statements.csv``'s ``rhythm`` column), grouped by ``ptbxl_group`` (first match wins): ``flutter`` (AFLT;
  CinC 2017 counts flutter as Other), ``af`` (AFIB), ``sinus_ectopy`` (SR with PAC, PVC, BIGU, TRIGU or SVARR),
  ``sinus`` (SR), ``other_rhythm`` (any other rhythm statement), ``no_rhythm_statement``.
- ``cinc2021``: the 50 CinC 2021-format records (Georgia, Chapman-Shaoxing, PTB-XL). Reference: the SNOMED CT codes
  of the header's ``# Dx:``, grouped by ``snomed_group`` the same way (AFL, AF, a sinus code with a premature-beat
  code, a sinus code, anything else).

- ``mitdb_windows`` (``--mitdb-dir``): every consecutive 30 s window of MIT-BIH DS1's MLII lead (Holter, 360 Hz;
  ``external_rhythms``' windows, all of them, through ``predict_signal``), grouped by ``mitdb_window_group`` from the
  annotated rhythms over it and its beats' AAMI classes: ``af`` (AFIB throughout), ``af_mixed`` (AFIB and another
  rhythm), ``flutter``, ``bigeminy_trigeminy`` (an episode of either, no AFIB), ``other_rhythm``, ``sinus`` (sinus
  throughout, every beat N) and ``sinus_ectopy`` (sinus throughout, some ectopic beat). A rhythm-labelled look at the
  organised irregularity the CinC Other-called-AF errors show (af33); MLII, not lead I.

Figures per group: records and the served class counts; AF sensitivity (A calls on the AF group), the share of
sinus records (with or without ectopy) called AF, and the share of the A calls that fall on the AF group among the
records with a rhythm reference. Small samples (13 AF records in the PTB-XL subset, none in the CinC 2021 sample):
they show where the preset goes wrong on another device, not a rate to quote. Last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.shared_data import CINC2021, MITDB, PTBXL  # noqa: E402

log = logging.getLogger("experiments.cinc2017.external_check")
LEAD = "I"
MODELS = ("cinc2017", "cinc2017-keras", "cinc2017-edge")   # the served presets of the task
CLASSES = ("N", "A", "O", "~")
AF_GROUP, SINUS_GROUPS = "af", ("sinus", "sinus_ectopy")
NO_REFERENCE = "no_rhythm_statement"
PTBXL_VENTRICULAR, PTBXL_ATRIAL = {"PVC", "BIGU", "TRIGU"}, {"PAC", "SVARR"}    # premature-beat statements
PTBXL_ECTOPY = PTBXL_VENTRICULAR | PTBXL_ATRIAL
SNOMED = {"AF": {"164889003"}, "AFL": {"164890007"},
          "sinus": {"426783006", "427084000", "426177001", "427393009"},     # SR, tachycardia, bradycardia, arrhythmia
          "ventricular": {"427172004", "17338001"},                          # PVC, VPB
          "atrial": {"284470004", "63593006"}}                               # PAC, SVPB
SNOMED["ectopy"] = SNOMED["ventricular"] | SNOMED["atrial"]


def ptbxl_group(codes, rhythm_codes) -> str:
    """A PTB-XL record's rhythm group from its SCP codes (``rhythm_codes``: the rhythm statements)."""
    rhythm = set(codes) & set(rhythm_codes)
    if "AFLT" in rhythm:
        return "flutter"
    if "AFIB" in rhythm:
        return AF_GROUP
    if "SR" in rhythm:
        return "sinus_ectopy" if set(codes) & PTBXL_ECTOPY else "sinus"
    return "other_rhythm" if rhythm else NO_REFERENCE


def snomed_group(codes) -> str:
    """A CinC 2021-format record's rhythm group from its SNOMED CT codes."""
    codes = set(codes)
    if codes & SNOMED["AFL"]:
        return "flutter"
    if codes & SNOMED["AF"]:
        return AF_GROUP
    if codes & SNOMED["sinus"]:
        return "sinus_ectopy" if codes & SNOMED["ectopy"] else "sinus"
    return "other_rhythm"


def ptbxl_references(ptbxl_dir: Path) -> tuple:
    """``({record name: group}, {record name: its codes})`` of the PTB-XL subset's 500 Hz records (the name as
    ``predict_folder`` gives it, without its folder)."""
    with open(ptbxl_dir / "scp_statements.csv", newline="", encoding="utf-8") as handle:
        rhythm_codes = {row[""] for row in csv.DictReader(handle) if row["rhythm"].strip() in ("1", "1.0")}
    from ecgsl_keras.data.datasets.ptbxl import RATE_COLUMNS, read_database

    table = read_database(ptbxl_dir / "ptbxl_database.csv")
    codes = {Path(name).name: sorted(scp) for name, scp in zip(table[RATE_COLUMNS[500]], table["scp_codes"])}
    return {name: ptbxl_group(c, rhythm_codes) for name, c in codes.items()}, codes


def cinc2021_references(folder: Path) -> tuple:
    """``({record name: group}, {record name: its SNOMED CT codes})`` of a CinC 2021-format folder."""
    from ecgsl_keras.data.datasets.wfdb_folder import read_dx

    codes = {header.stem: list(read_dx(header)) for header in sorted(folder.glob("*.hea"))}
    return {name: snomed_group(c) if c else NO_REFERENCE for name, c in codes.items()}, codes


def summarise(rows, references) -> dict:
    """The group-by-class table and the AF figures of ``rows`` (``predict_folder``'s, keyed by record name)."""
    table = {}
    for row in rows:
        group = references.get(Path(row["record"]).name, NO_REFERENCE)
        cell = table.setdefault(group, Counter())
        cell[row.get("prediction", "refused") if row["status"] == "ok" else "refused"] += 1
    table = {g: {k: c[k] for k in CLASSES + (("refused",) if c["refused"] else ())} | {"records": sum(c.values())}
             for g, c in sorted(table.items())}

    def count(groups, label="A"):
        return sum(table.get(g, {}).get(label, 0) for g in groups)

    def records(groups):
        return sum(table.get(g, {}).get("records", 0) for g in groups)

    referenced = [g for g in table if g != NO_REFERENCE]
    af = {"af_records": records([AF_GROUP]), "af_called_A": count([AF_GROUP]),
          "sinus_records": records(SINUS_GROUPS), "sinus_called_A": count(SINUS_GROUPS),
          "A_calls_with_reference": count(referenced), "A_calls_on_af": count([AF_GROUP])}
    af["af_sensitivity"] = af["af_called_A"] / af["af_records"] if af["af_records"] else None
    af["sinus_called_A_share"] = af["sinus_called_A"] / af["sinus_records"] if af["sinus_records"] else None
    af["A_calls_on_af_share"] = (af["A_calls_on_af"] / af["A_calls_with_reference"]
                                 if af["A_calls_with_reference"] else None)
    return {"records": len(rows), "refused": sum(r["status"] != "ok" for r in rows), "groups": table, "af": af}


def run(predictor, folder, references: tuple, workers: int) -> dict:
    """``predict_folder`` on lead I of every record of ``folder`` and its subfolders, summarised against
    ``references`` (groups, codes); the AF calls outside the AF group listed with their codes."""
    from ecgsl_keras.serving.folder import predict_folder

    t0 = time.perf_counter()
    rows = predict_folder(predictor, folder, lead=LEAD, workers=workers, progress=False, recursive=True)
    references, codes = references
    out = summarise(rows, references)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["called_A_outside_af"] = sorted(
        ({"record": Path(r["record"]).name, "group": references.get(Path(r["record"]).name, NO_REFERENCE),
          "p_A": r.get("p_A"), "codes": codes.get(Path(r["record"]).name, [])} for r in rows
         if r.get("prediction") == "A" and references.get(Path(r["record"]).name) != AF_GROUP),
        key=lambda item: item["record"])
    return out


def mitdb_window_group(rhythms: set, beat_classes) -> str:
    """A MIT-BIH window's group (the module docstring) from its annotated rhythms and its beats' AAMI classes."""
    from experiments.cinc2017.external_rhythms import AF, SINUS

    if rhythms == {AF}:
        return AF_GROUP
    if AF in rhythms:
        return "af_mixed"
    if "(AFL" in rhythms:
        return "flutter"
    if rhythms & {"(B", "(T"}:
        return "bigeminy_trigeminy"
    if rhythms != {SINUS}:
        return "other_rhythm"
    return "sinus" if all(c == "N" for c in beat_classes) else "sinus_ectopy"


def run_mitdb_windows(predictor, mitdb_dir) -> dict:
    """``predict_signal`` on every consecutive 30 s window of each DS1 record's MLII lead, summarised by window group;
    the windows of bigeminy or trigeminy called AF listed."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.errors import ECGSLError
    from ecgsl_keras.serving.folder import result_row
    from experiments.cinc2017.external_rhythms import window_spans

    t0 = time.perf_counter()
    reader = open_dataset("mitdb", mitdb_dir, lead="MLII")
    rows, groups = [], {}
    for rid in reader.record_ids():
        record = reader.load(rid)
        signal = record.lead("MLII")
        for k, (a, b, rhythms, classes) in enumerate(window_spans(record)):
            name = f"{rid}_{k:02d}"
            groups[name] = mitdb_window_group(rhythms, classes)
            try:
                result = predictor.predict_signal(signal[a:b], record.fs,
                                                  path=f"{record.path} [{a / record.fs:.0f} s, {b / record.fs:.0f} s)")
                rows.append(dict(record=name, status="ok", **result_row(predictor, result)))
            except ECGSLError as exc:
                rows.append({"record": name, "status": "refused", "reason": str(exc)})
    out = summarise(rows, groups)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["organised_called_A"] = sorted(r["record"] for r in rows
                                       if r.get("prediction") == "A" and groups[r["record"]] == "bigeminy_trigeminy")
    return out


def external_arguments(doc: str, argv=None, extra=None) -> argparse.Namespace:
    """Logging to stderr and the command line of a check on other devices' records (this script and
    ``experiments/mitdb/external_check.py``): the two folders (refused when missing), ``--workers``, ``--out``;
    ``extra(parser)`` adds a script's own options."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--ptbxl-dir", type=Path, default=PTBXL)
    p.add_argument("--cinc2021-dir", type=Path, default=CINC2021)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    for folder in (args.ptbxl_dir, args.cinc2021_dir):
        if not folder.is_dir():
            raise SystemExit(f"error: {folder}: no such folder (the shared data sets, see ../shared/data/README.md)")
    return args


def main(argv=None) -> int:
    def extra(p):
        p.add_argument("--models", nargs="+", default=list(MODELS))
        p.add_argument("--mitdb-dir", type=Path, default=MITDB, help="MIT-BIH DS1 records")

    args = external_arguments(__doc__, argv, extra)
    if not args.mitdb_dir.is_dir():
        raise SystemExit(f"error: {args.mitdb_dir}: no such folder (the shared data sets: ../shared/data/README.md)")
    from ecgsl_keras.serving.inference import load_model

    sets = {"ptbxl": (args.ptbxl_dir / "records500", ptbxl_references(args.ptbxl_dir)),   # records500/00000/...
            "cinc2021": (args.cinc2021_dir, cinc2021_references(args.cinc2021_dir))}
    command = "python experiments/cinc2017/external_check.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    # --out's other models stay (a rerun of one preset, e.g. after it changed, keeps the others' blocks)
    result = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {"models": {}}
    for block in result["models"].values():
        block.setdefault("command", result.get("command"))
    result.update(lead=LEAD, command=command)
    for name in args.models:
        predictor = load_model(name)
        result["models"][name] = {key: run(predictor, folder, refs, args.workers)
                                  for key, (folder, refs) in sets.items()}
        result["models"][name]["mitdb_windows"] = run_mitdb_windows(predictor, args.mitdb_dir)
        result["models"][name]["command"] = command
        log.info("%s: %s", name, {key: block["af"] for key, block in result["models"][name].items()
                                  if key != "command"})
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({name: {key: block["af"] for key, block in blocks.items() if key != "command"}
                      for name, blocks in result["models"].items() if name in args.models} | {"command": command}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
