"""The helpers that the experiment scripts share (code-health run s32-dups): experiments/rpeaks/cluster.py's
leave-one-record-out summary (runs s37-s40's grids) and experiments/cinc2017/oof_table.py's extra-column table."""
import csv
import json

import numpy as np
from helpers import CINC_SAMPLE

from ecgsl_keras import tasks
from experiments.cinc2017 import oof_table as T
from experiments.rpeaks import cluster as C
from experiments.rpeaks import t_wave as W


def _counts(errors_of):
    """Counts of every DS1 record and rhythm: 100 beats, ``errors_of(name, rid)`` FN and as many FP."""
    out = {}
    for rid in tasks.MITDB_DS1:
        for name in ("a", "b", C.TODAY):
            for r in C.RHYTHMS:
                e = errors_of(name, rid)
                out[f"{rid}|{r}|{name}"] = [100 - e, e, e]
    return out


def test_loro_summary_chooses_on_the_other_records_and_keeps_only_fewer_errors():
    """"b" is better than "a" on every record but 203, and on the other 21 of each fold: every fold chooses it; held
    out it beats "a" scored on all 22 records (the keep rule's (a) and (b) hold), "a" against it falls on every
    rhythm's Se and +P, and a point against itself is not kept (not fewer errors)."""
    counts = _counts(lambda name, rid: {"a": 2, "b": 9 if rid == "203" else 1}.get(name, 3))
    records, held, choice, all22, most = C.loro_summary(counts, ["a", "b"])
    assert records == list(tasks.MITDB_DS1) and most == "b"
    assert choice["203"] == "b" and set(choice.values()) == {"b"}      # 203's fold: b still has fewer on the other 21
    assert C.errors(held) == C.errors(all22["b"])
    short = {"a": "A", "b": "B"}
    fields = C.held_out_fields(held, choice, all22["a"], "rule", short)
    assert fields["keep"]["fewer_errors"] is True and fields["choice_counts"] == {"B": 22}
    assert fields["keep"] == {"rule": "rule", "fewer_errors": True, "falls": {}, "recommended_on_counts": True}
    assert fields["choice_per_fold"]["203"] == "B" and fields["meets_target"]["normal"] is False
    worse = C.keep(all22["a"], all22["b"], "rule")
    assert worse["falls"] == {r: ["Se", "+P"] for r in C.RHYTHMS} and worse["recommended_on_counts"] is False
    assert C.keep(held, held, "rule") == {"rule": "rule", "fewer_errors": False, "falls": {},
                                          "recommended_on_counts": False}
    folds = C.fold_errors(counts, choice, records, "a", "held_out_a")
    assert folds["203"] == {"train_chosen": 21 * 4 * 2, "held_out_chosen": 4 * 18, "held_out_a": 4 * 4}


def test_t_wave_result_parts_keep_the_grids_key_order():
    """t_wave.py's parts of runs s31-s38's results (code-health run s38-dups): merged in a script's order they give the
    keys the committed JSONs hold, in that order, and the same figures as cluster's summary."""
    counts = _counts(lambda name, rid: {"a": 2, "b": 9 if rid == "203" else 1}.get(name, 3))
    for rid in tasks.MITDB_DS1:
        for r in W.KIND_RHYTHMS:
            for name in ("a", "b"):
                counts[f"{rid}|{r}|{name}|kinds"] = {"fp_other": 1}
    records = list(tasks.MITDB_DS1)
    held, choice, all22, best, others = W.loro_grid(counts, ["a", "b"], records)
    assert (held, choice) == C.loro(counts, ["a", "b"], records) and best == "b" and len(others["203"]) == 21
    result = {**W.held_fields(held), **W.choice_best_fields(choice, all22, best, best_distance=False),
              **W.first_grid_fields(held, choice, held, choice, "keep", all22, best, "b", "a", 7),
              **W.rhythm_errors_fields(all22, ["a", "b"]),
              "fold": W.fold_against(counts, choice, others, "203", "a", "s33"),
              **W.watch_fields(counts, choice, records, ["a"], block21_kinds=False)}
    assert list(result) == ["held_out", "held_out_distance_to_target", "fn_allowed", "choice_per_fold",
                            "choice_counts", "best_all_22", "best_all_22_figures", "held_out_first_grid",
                            "keep_first_grid", "choice_counts_first_grid", "errors", "most_chosen_all_22",
                            "grid_errors_all_22", "grid_rhythm_errors_all_22", "fold", "per_record",
                            "per_record_held_out", "kinds"]
    assert result["errors"]["s33_reported_held_out"] == 7 and result["errors"]["s33_point"] == C.errors(all22["a"])
    assert result["fold"] == {"train_chosen": 21 * 4 * 2, "train_s33": 21 * 4 * 4, "held_out_chosen": 4 * 18,
                              "held_out_s33": 4 * 4}
    assert result["kinds"] == {"a": {"block21": {"fp_other": 22}, "bigeminy": {"fp_other": 22}}}
    assert W.most_chosen_fields(choice) == {"most_chosen": "b", "tie_break": "the first name in sort order"}


def test_result_head_and_write_result(tmp_path, capsys):
    head = C.result_head("x", "experiments/rpeaks/x.py", ["--out", "o.json"], ["100"], "rule")
    assert head["command"] == "python experiments/rpeaks/x.py --out o.json" and head["keep_rule"] == "rule"
    C.write_result(tmp_path / "o.json", {**head, "n": 1}, ("n",))
    assert json.loads((tmp_path / "o.json").read_text())["experiment"] == "x"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"n": 1}


def test_extract_columns_caches_rows_and_writes_the_table(tmp_path):
    """Rows cached per record (a second call computes nothing), training records first, the npz in the table's order."""
    ids = [r for r, _ in csv.reader(open(CINC_SAMPLE / "REFERENCE.csv"))][:4]
    np.savez(tmp_path / "features.npz", record_id=np.array(ids))
    np.savez(tmp_path / "deep.npz", record_id=np.array(ids), split=np.array(["validation", "train", "train", "train"]),
             label=np.zeros(4, int), label_names=np.array(["A", "N", "O", "~"]))
    seen = []

    def columns(signal, fs):
        seen.append(len(signal))
        return np.array([len(signal) / fs, np.nan])

    args = (tmp_path / "features.npz", tmp_path / "deep.npz", CINC_SAMPLE, tmp_path / "work", tmp_path / "t.npz")
    got = T.extract_columns(columns, ("seconds", "nan"), *args, limit=3)
    assert len(seen) == 3 and got["done"] == ids[1:] and got["ms"].size == 3       # the validation record is last
    table = np.load(tmp_path / "t.npz")
    assert table["X"].dtype == np.float32 and list(table["record_id"]) == ids[1:]
    again = T.extract_columns(columns, ("seconds", "nan"), *args)
    assert len(seen) == 4 and again["done"] == ids                                # only the missing record computed
    summary = T.column_summary(again, ("seconds", "nan"))
    assert summary["nan_fraction"] == {"seconds": 0.0, "nan": 1.0} and summary["ms_per_record"]["timed"] == 4
    train, y = T.train_rows(again)
    assert train == [1, 2, 3] and list(y) == ["A", "A", "A"]
    T.save_results(tmp_path / "r.json", "k", {"v": 1})
    T.save_results(tmp_path / "r.json", "j", {"v": 2})
    assert json.loads((tmp_path / "r.json").read_text()) == {"k": {"v": 1}, "j": {"v": 2}}


def test_validation_af_f1():
    assert T.validation_af_f1("not scored: the lever is not kept", 0.9) == {}
    summary = {k: {"summary": {"per_class_f1": {"A": {"mean": v}}}} for k, v in (("without", 0.8), ("with", 0.85))}
    got = T.validation_af_f1(summary, 0.9)
    assert got["validation_with_af_f1"] == 0.85 and abs(got["validation_without_short_by"] - 0.1) < 1e-12


def test_finish_lever_writes_both_results_and_one_summary_line(tmp_path, capsys):
    result = {"command": "python x.py", "records": {"train": 3}, "cv": {"kept": False, "seconds": 1.5, "rows": [1]}}
    T.finish_lever(tmp_path / "work.json", result, tmp_path / "repo.json", "lever", "cv")
    assert json.loads((tmp_path / "work.json").read_text()) == result
    assert json.loads((tmp_path / "repo.json").read_text()) == {"lever": result}
    assert json.loads(capsys.readouterr().out) == {"command": "python x.py", "records": {"train": 3}, "kept": False,
                                                   "seconds": 1.5}
    T.finish_lever(tmp_path / "w2.json", {"command": "c", "records": {}}, None, "lever", "cv")   # the step not run
    assert json.loads(capsys.readouterr().out) == {"command": "c", "records": {}}


def test_region_rate_leave_one_record_out_choice():
    """Run s40-tw's choice: each record counted at the value chosen on the other records (0.85 on a tie), the point
    ``loro`` carries that value's counts and changes; the value chosen on all records is the lower sum."""
    from experiments.rpeaks import region_rate as R

    run = R.RUNS["s40-tw"]
    rhythms = R.RHYTHMS

    def counts(rid, fp):   # fp: value -> FP per rhythm; FN 0, TP 100
        out = {}
        for v, n in fp.items():
            for r in rhythms:
                out[f"{rid}|{r}|s58_100_{v}"] = [100, 0, n]
                out[f"{rid}|{r}|s58_100_{v}|changes"] = [0, 0, n, 0]
        return out

    fps = {"a": {"tw085": 1, "tw080": 0}, "b": {"tw085": 1, "tw080": 0}, "c": {"tw085": 0, "tw080": 5}}
    per_record = {rid: {"other": counts(rid, fp), "block21": {k: counts(rid, fp) for k in R.SEEDS}}
                  for rid, fp in fps.items()}
    # per record FN + FP at 100 Hz: three other rhythms plus block21's mean over the seeds
    assert R.record_errors_at_100(per_record, "c", "tw080") == 20.0
    chosen_all, chosen, composite = R.leave_one_record_out(run, per_record, ["a", "b", "c"])
    # all: tw085 4 + 4 + 0 = 8, tw080 0 + 0 + 20 = 20; without c: tw080 (0 against 8); without a: tw085 (4 against 20)
    assert chosen_all == "tw085"
    assert chosen == {"a": "tw085", "b": "tw085", "c": "tw080"}
    assert composite["c"]["other"]["c|normal|loro"] == [100, 0, 5]
    assert composite["a"]["block21"][R.SEEDS[0]]["a|block21|loro|changes"] == [0, 0, 1, 0]
    # a tie goes to the first value (0.85, the smaller change)
    tie = {rid: {"other": counts(rid, {"tw085": 1, "tw080": 1}),
                 "block21": {k: counts(rid, {"tw085": 1, "tw080": 1}) for k in R.SEEDS}} for rid in ("a", "b")}
    assert R.choose(tie, ["tw085", "tw080"], ["a", "b"]) == "tw085"


def test_region_rate_s41_t201_keep_needs_the_chosen_value_safe_natively():
    """Run s41-t201's keep rule is run s40-tw's plus one condition: the value chosen on all records makes no more
    FN + FP natively than the native base on every seed (``Run.native_safe``)."""
    from experiments.rpeaks import region_rate as R

    run = R.RUNS["s41-t201"]
    assert run.native_safe and run.choice == "loro" and not R.RUNS["s40-tw"].native_safe
    assert list(run.variants)[1:] == list(R.UNLIKE_VALUES)     # the tie goes to the most cautious value, listed first
    base_100, base_native, value = "s58_100_step_feature_sharpness", "s58_native_step_feature_sharpness", "unlike075_s07"
    seeds = [str(k) for k in R.SEEDS]

    def figures_for(errors):
        return {p: {"errors": {"mean": float(np.mean([errors[p][k] for k in seeds]))},
                    **{r: {"Se": {"mean": 0.998}} for r in R.RHYTHMS}} for p in errors}

    timing = {"per_record_min": {"ratio_to_today_native": {f"s58_100_{value}": 1.0}}}
    errors = {base_100: {k: 800 for k in seeds}, "loro": {k: 780 for k in seeds}, f"s58_100_{value}": {k: 780 for k in seeds},
              base_native: {k: 750 for k in seeds}, f"s58_native_{value}": {k: 750 for k in seeds}}
    for v in R.UNLIKE_VALUES:
        errors.setdefault(f"s58_100_{v}", {k: 800 for k in seeds})
        errors.setdefault(f"s58_native_{v}", {k: 750 for k in seeds})
    rules = R.keep_verdict_loro(run, figures_for(errors), errors, timing, 56.0, value)
    assert rules["closes_gap_meaningfully"] and rules["safe_natively"] and rules["kept"]
    errors[f"s58_native_{value}"][seeds[2]] = 751             # one more native error on one seed
    rules = R.keep_verdict_loro(run, figures_for(errors), errors, timing, 56.0, value)
    assert rules["closes_gap_meaningfully"] and not rules["safe_natively"] and not rules["kept"]


def test_minimum_gap_s41_combo_grid_is_run_s64s_point_with_the_100_hz_values_and_its_keep_rule():
    """Run s41-combo's grid: run s65a's first four points, then run s64's point with run s41-t201's veto, run
    s41-block100's search-back check and both, at the values those runs chose (region_rate's RUNS); the verdict needs
    fewer held-out errors than run s64 on every seed and block21's Se and +P not lower on any seed."""
    from experiments.rpeaks import minimum_gap as M
    from experiments.rpeaks import region_rate as R

    assert M.GRIDS["s41-combo"][:3] == M.GRIDS["s65a"][:3]
    veto = R.RUNS["s41-t201"].variants["unlike060_s08"]["rpeak_guard_constants"]
    sbpw = R.RUNS["s41-block100"].variants["sbpw08"]["rpeak_guard_constants"]
    s64 = M.S64_POINT["rpeak_guard_constants"]
    added = [{k: v for k, v in p["rpeak_guard_constants"].items() if k not in s64} for p in M.GRIDS["s41-combo"][2:]]
    assert added == [{}, {k: v for k, v in veto.items() if k != "sharpness_step_s"},
                     {k: v for k, v in sbpw.items() if k != "sharpness_step_s"},
                     {k: v for k, v in (veto | sbpw).items() if k != "sharpness_step_s"}]
    # the names: run s64's point unchanged (its counts are found in the earlier caches), the options after it
    names = [M.SHORT[n] for n in M.names("s41-combo")]
    assert names[3] == "s37_first_gap0.25_final0.5_after_pair0.6_corr0.9_bpgap1.3" == [
        M.SHORT[n] for n in M.names("s64")][-1]
    assert all(n.startswith(names[3] + "_") for n in names[4:]) and len(set(names)) == len(names)
    # the verdict against run s64's committed per-seed figures
    s64_seeds = json.loads(M.S47_JSON.with_name("rpeaks_s64_blocked_p_gap.json").read_text())["per_seed"]
    per_seed = {k: {"errors_held_out": v["errors_held_out"] - 1, "block21": dict(v["block21"]),
                    "held_out": {r: {"Se": 0.998, "+P": 0.998} for r in M.RHYTHMS}} for k, v in s64_seeds.items()}
    option, speed = names[-1], {"within_limit": True}
    assert M.keep_s41_combo(per_seed, speed, option)["recommended"]
    assert not M.keep_s41_combo(per_seed, speed, names[3])["recommended"]           # run s64's point most chosen
    assert not M.keep_s41_combo(per_seed, {"within_limit": False}, option)["recommended"]
    per_seed["3"]["errors_held_out"] += 1                                          # equal to run s64's on one seed
    assert not M.keep_s41_combo(per_seed, speed, option)["errors_lower_than_s64_every_seed"]
    per_seed["3"]["errors_held_out"] -= 1
    per_seed["2"]["block21"]["+P"] -= 1e-4                                         # block21 +P lower on one seed
    verdict = M.keep_s41_combo(per_seed, speed, option)
    assert verdict["block21_Se_not_lower_than_s64_any_seed"] and not verdict["block21_+P_not_lower_than_s64_any_seed"]
    assert not verdict["recommended"]


def test_region_rate_s41_combo_reads_the_single_levers_beside_and_checks_their_base(tmp_path):
    """Run s41-combo reads the single-lever points from the runs that counted them (``with_beside``); a folder whose
    base count of a build differs from this run's stops the run."""
    import pytest

    from experiments.rpeaks import region_rate as R

    run = R.RUNS["s41-combo"]
    records = ["100", "101"]
    base = [f"s58_{rate}_{run.base}" for rate in ("native", "100")]

    def counts(rid, rhythms, points, fp):
        return {f"{rid}|{r}|{p}{tail}": ([100, 0, fp] if not tail else [0, 0, fp, 0])
                for r in rhythms for p in points for tail in ("", "|changes")}

    mine = {rid: {"other": counts(rid, R.D.OTHER, base, 1),
                  "block21": {k: counts(rid, ["block21"], base, 1) for k in R.SEEDS}} for rid in records}
    folders = []
    for v, fp in zip(run.beside, (3, 4)):
        folder = tmp_path / v
        folder.mkdir()
        points = base + [f"s58_{rate}_{v}" for rate in ("native", "100")]
        for rid in records:
            (folder / f"{rid}_other.json").write_text(json.dumps(
                counts(rid, R.D.OTHER, base, 1) | counts(rid, R.D.OTHER, points[2:], fp)))
            for k in R.SEEDS:
                (folder / f"{rid}_block21_k{k}.json").write_text(json.dumps(
                    counts(rid, ["block21"], base, 1) | counts(rid, ["block21"], points[2:], fp)))
        folders.append(folder)
    merged = R.with_beside(run, mine, folders, records)
    assert merged["101"]["other"]["101|pause|s58_100_unlike060_s08"] == [100, 0, 3]
    assert merged["100"]["block21"][R.SEEDS[-1]]["100|block21|s58_native_sbpw08|changes"] == [0, 0, 4, 0]
    assert mine["101"]["other"].keys() == set(counts("101", R.D.OTHER, base, 1))    # the input is left as it was
    bad = folders[1] / "100_block21_k2.json"
    theirs = json.loads(bad.read_text())
    theirs["100|block21|s58_100_step_feature_sharpness"] = [100, 0, 2]
    bad.write_text(json.dumps(theirs))
    with pytest.raises(RuntimeError, match="differs"):
        R.with_beside(run, mine, folders, records)


def test_classifiable_zones_leave_the_margins_and_the_last_windows_overlap_out():
    """Run s41-graphd1's zones (run s41-gd1p imports them): each window's zone leaves its margins out, the last window's
    starts where the one before ends, the file's peaks are kept in their own window's zone only, and the zones are at
    the record's rate."""
    import numpy as np

    from experiments.rpeaks import graph_points_look as G

    windows = [(0, 100, np.array([5, 50, 95])), (60, 100, np.array([70, 85, 120, 150]))]
    zones, peaks = G.classifiable_zones(windows, 10, 20, fs=200.0, rate=100.0)
    assert zones == [(20.0, 160.0), (160.0, 280.0)]
    assert peaks.tolist() == [50, 85, 120]     # 5, 95, 70 in a margin or the window before, 150 in a margin
    assert G.classifiable_zones([], 10, 20, 200.0, 100.0)[1].size == 0


def test_graph_points_look_steps_alone_and_together_make_run_s64s_point():
    """Run s41-graphd1's points: each Python-only step added alone to the graph's point changes only that step's fields
    (and the guard constants), all of them together are run s64's point, and ``in_zones`` keeps the beats and peaks
    inside the classifiable zones only."""
    import dataclasses

    from experiments.rpeaks import graph_points_look as G

    def rpeak_fields(c):
        return {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.name.startswith("rpeak_")}

    configs = G.configs()
    full, graph = G.s64_config(), rpeak_fields(configs["graph"])
    assert rpeak_fields(configs["s64"]) == rpeak_fields(full) and configs["s64"].clean_method == full.clean_method
    assert graph["rpeak_keep_first_beat"] and graph["rpeak_guard_post_wide"] == 0.4
    for step in G.STEPS:
        moved = {k for k, v in rpeak_fields(configs[f"plus_{step}"]).items() if v != graph[k]}
        assert moved == set(G.MISSING[step]) | {"rpeak_guard_constants"}, step
        assert all(getattr(configs[f"plus_{step}"], k) == getattr(full, k) != getattr(configs["graph"], k)
                   for k in G.MISSING[step])
    assert {k for k, v in rpeak_fields(configs["constants_only"]).items() if v != graph[k]} == {"rpeak_guard_constants"}
    assert dict(configs["s64_veto"].rpeak_guard_constants) == dict(full.rpeak_guard_constants) | G.VETO
    assert "first_beat" not in G.STEPS and len(G.STEPS) == len(G.MISSING) - 1

    built = {"beats": np.array([10, 50, 95, 150]), "episodes": []}
    zoned, peaks = G.in_zones(built, np.array([9.6, 49.0, 99.0, 150.0]), [(0, 60), (100, 151)])
    assert zoned["beats"].tolist() == [10, 50, 150] and peaks.tolist() == [10, 49, 150]
    assert built["beats"].tolist() == [10, 50, 95, 150]          # the input is left as it was


def test_minimum_gap_s66_grid_is_run_s41_combos_point_with_the_second_spacing_and_its_keep_rule(tmp_path):
    """Run s66's grid: run s41-combo's, then its chosen point (both constants) with GuardConstants.second_spacing 0.45
    and 0.4 and nothing else changed; the verdict needs an option point chosen by some fold, fewer held-out errors than
    run s41-combo on every seed, block21's Se and +P not lower on any seed and a timing within 1.3x; a strip marker of
    a name past the file system's limit is its short name."""
    from experiments.rpeaks import minimum_gap as M

    assert M.GRIDS["s66"][:-2] == M.GRIDS["s41-combo"]
    both = M.GRIDS["s41-combo"][-1]
    for point, spacing in zip(M.GRIDS["s66"][-2:], (0.45, 0.4)):
        assert {k: v for k, v in point.items() if k != "rpeak_guard_constants"} == {
            k: v for k, v in both.items() if k != "rpeak_guard_constants"}
        assert point["rpeak_guard_constants"] == dict(both["rpeak_guard_constants"], second_spacing=spacing)
    names = [M.SHORT[n] for n in M.names("s66")]
    assert names[:-2] == [M.SHORT[n] for n in M.names("s41-combo")] and len(set(names)) == len(names)
    assert all(n.startswith(names[-3] + "_secsp") for n in names[-2:])
    # ties go to run s41-combo's point: it sorts before both option points
    assert sorted(names[-3:])[0] == names[-3]
    # the verdict against run s41-combo's committed per-seed figures
    ref = json.loads(M.S47_JSON.with_name("rpeaks_s41_combo_native.json").read_text())["per_seed"]
    per_seed = {k: {"errors_held_out": v["errors_held_out"] - 1, "block21": dict(v["block21"]),
                    "held_out": {r: {"Se": 0.998, "+P": 0.998} for r in M.RHYTHMS},
                    "choice_counts": {names[-3]: 20, names[-1]: 2}} for k, v in ref.items()}
    speed = {"within_limit": True}
    verdict = M.keep_s66(per_seed, speed, names[-3])
    assert verdict["recommended"] and verdict["option_most_chosen"] == names[-1]
    assert not M.keep_s66(per_seed, None, names[-3])["recommended"]                      # not timed
    assert not M.keep_s66(per_seed, {"within_limit": False}, names[-3])["recommended"]
    no_option = {k: dict(v, choice_counts={names[-3]: 22}) for k, v in per_seed.items()}
    assert not M.keep_s66(no_option, speed, names[-3])["recommended"]
    per_seed["4"]["errors_held_out"] += 1                                                # equal on one seed
    assert not M.keep_s66(per_seed, speed, names[-3])["errors_lower_than_s41_combo_every_seed"]
    per_seed["4"]["errors_held_out"] -= 1
    per_seed["0"]["block21"]["Se"] -= 1e-4                                               # block21 Se lower on one seed
    assert not M.keep_s66(per_seed, speed, names[-3])["recommended"]
    # --strip-s41-combo: the point's keys leave the copy once, its marker named by the short name
    long_name = f"{M.BASELINE}__{M.suffix(M.S41_COMBO_POINT)}"
    assert len(long_name) > 255
    (tmp_path / "203_other.json").write_text(json.dumps({f"203|normal|{long_name}": [1, 0, 0],
                                                         f"203|normal|{M.BASELINE}": [1, 0, 0]}))
    M.strip_point(tmp_path, long_name)
    assert json.loads((tmp_path / "203_other.json").read_text()) == {f"203|normal|{M.BASELINE}": [1, 0, 0]}
    assert (tmp_path / f"stripped_{M.SHORT[long_name]}").exists()


def test_minimum_gap_s67_grid_is_run_s41_combos_point_with_the_template_spacing_and_its_keep_rule():
    """Run s67's grid: run s41-combo's, then its chosen point (both constants) with GuardConstants.templates_spacing
    0.4 and 0.25 and nothing else changed; the verdict reads run s67's option points (not run s66's)."""
    from experiments.rpeaks import minimum_gap as M

    assert M.GRIDS["s67"][:-2] == M.GRIDS["s41-combo"]
    both = M.GRIDS["s41-combo"][-1]
    for point, spacing in zip(M.GRIDS["s67"][-2:], (0.4, 0.25)):
        assert {k: v for k, v in point.items() if k != "rpeak_guard_constants"} == {
            k: v for k, v in both.items() if k != "rpeak_guard_constants"}
        assert point["rpeak_guard_constants"] == dict(both["rpeak_guard_constants"], templates_spacing=spacing)
        assert M.templates_spacing_point(spacing) == point
    names = [M.SHORT[n] for n in M.names("s67")]
    assert names[:-2] == [M.SHORT[n] for n in M.names("s41-combo")] and len(set(names)) == len(names)
    assert all(n.startswith(names[-3] + "_tsp") for n in names[-2:])
    assert sorted(names[-3:])[0] == names[-3]                                            # ties: run s41-combo's point
    assert M.REFERENCE["s67"] == "s41-combo" and M.CACHES["s67"] != M.CACHES["s66"]
    ref = json.loads(M.S47_JSON.with_name("rpeaks_s41_combo_native.json").read_text())["per_seed"]
    per_seed = {k: {"errors_held_out": v["errors_held_out"] - 1, "block21": dict(v["block21"]),
                    "held_out": {r: {"Se": 0.998, "+P": 0.998} for r in M.RHYTHMS},
                    "choice_counts": {names[-3]: 20, names[-2]: 2}} for k, v in ref.items()}
    verdict = M.keep_s66(per_seed, {"within_limit": True}, names[-3], "s67")
    assert verdict["recommended"] and verdict["option_most_chosen"] == names[-2]
    assert verdict["rule"] == M.KEEP_RULE_AGAINST_S51["s67"]
    assert not M.keep_s66(per_seed, {"within_limit": True}, names[-3])["recommended"]   # run s66's options: none chosen


def test_s66_look_own_peaks_and_refused_labels():
    """Run s66's look: a peak is the annotation's own within 150 ms and nearer to it than to its neighbouring beats
    (run s64's rule); a candidate the PVC-run test refused is labelled so, after the cluster rescue kept it too."""
    from experiments.rpeaks import s66_never_proposed_look as L

    beats = np.array([1000, 1100, 1500])
    assert L.own(np.array([1040, 1060, 1300]), 1100, beats, 54).tolist() == [1060]
    assert L.own(np.array([1160]), 1100, beats, 54).size == 0                            # over the tolerance
    refused = {"outcome": "refused_other", "checks": {"pvc_run_like": False}}
    assert L.refine_refused(refused)["outcome"] == "pvc_run_refused"
    kept_first = {"outcome": "refused_other", "checks": {"cluster_like": True, "pvc_run_like": False}}
    assert L.refine_refused(kept_first)["outcome"] == "cluster_kept_then_refused"
    assert L.refine_refused({"outcome": "too_close"}) == {"outcome": "too_close"}
