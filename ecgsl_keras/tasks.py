"""Task label spaces, and the mapping of each data set's labels onto them.

This is the only module that knows label names. Readers call the mapping functions here; the
TFRecord writer, training, evaluation and export read ``Task`` objects from ``get_task``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ecgsl_keras.errors import LabelError

MULTICLASS = "multiclass"
MULTILABEL = "multilabel"
BINARY = "binary"
PER_BEAT = "per_beat"
KINDS = (MULTICLASS, MULTILABEL, BINARY, PER_BEAT)


@dataclass(frozen=True)
class Task:
    """A prediction task: its label names, kind and the metric early stopping watches."""

    name: str
    label_names: tuple
    kind: str
    description: str = ""
    display_names: tuple = ()
    monitor: str = "val_macro_f1"

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def index(self, label: str, path="<labels>") -> int:
        """Class index of ``label``; ``LabelError`` naming ``path`` for an unknown label."""
        try:
            return self.label_names.index(label)
        except ValueError:
            raise LabelError(path, "unknown_label",
                             f"unknown label {label!r} for task {self.name} (known: {list(self.label_names)})") from None

    def to_dict(self) -> dict:
        return {"name": self.name, "label_names": list(self.label_names), "kind": self.kind,
                "description": self.description, "display_names": list(self.display_names),
                "monitor": self.monitor}

    @classmethod
    def from_dict(cls, values: dict) -> "Task":
        return cls(name=values["name"], label_names=tuple(values["label_names"]), kind=values["kind"],
                   description=values.get("description", ""),
                   display_names=tuple(values.get("display_names", ())),
                   monitor=values.get("monitor", "val_macro_f1"))


# --- CinC 2017: AF classification from a short single-lead ECG -------------------------------
CINC2017 = Task(
    name="cinc2017",
    label_names=("N", "A", "O", "~"),
    display_names=("Normal", "AF", "Other", "Noisy"),
    kind=MULTICLASS,
    description="PhysioNet/CinC 2017 AF challenge: normal, AF, other rhythm, noisy",
)
# The challenge score averages F1 over these three classes (noisy is left out).
CINC2017_CHALLENGE_LABELS = ("N", "A", "O")

# --- MIT-BIH Arrhythmia: AAMI EC57 beat classes ---------------------------------------------
MITDB_AAMI = Task(
    name="mitdb-aami",
    label_names=("N", "S", "V", "F", "Q"),
    display_names=("Normal", "Supraventricular ectopic", "Ventricular ectopic", "Fusion", "Unknown"),
    kind=PER_BEAT,
    description="MIT-BIH Arrhythmia, per-beat AAMI classes, inter-patient DS1/DS2",
)
# AAMI EC57 grouping of MIT-BIH beat annotation symbols. Symbols not listed are not beats
# (rhythm changes, noise, comments) and are ignored.
MITDB_SYMBOL_TO_AAMI = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N",
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q",
}
# de Chazal et al. 2004 inter-patient split (paced records 102, 104, 107, 217 excluded).
MITDB_DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
             "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
MITDB_DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
             "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
# Paced records, left out of the AAMI protocol.
MITDB_PACED = ("102", "104", "107", "217")
# Records of the same subject (MIT-BIH directory: 201 and 202 come from one man): a leave-records-out
# split keeps each group on one side.
MITDB_SAME_PATIENT = (("201", "202"),)


def aami_records(dataset: str, record_ids, named: bool = False) -> tuple[list, list]:
    """(records to score, paced records left out): on MIT-BIH the AAMI protocol leaves the paced records out,
    unless the caller ``named`` the records itself."""
    record_ids = list(record_ids)
    if dataset != "mitdb" or named:
        return record_ids, []
    return ([r for r in record_ids if r not in MITDB_PACED], [r for r in record_ids if r in MITDB_PACED])


def aami_class(symbol: str):
    """AAMI class of a MIT-BIH beat symbol, or None when the annotation is not a beat."""
    return MITDB_SYMBOL_TO_AAMI.get(symbol)


# --- Apnea-ECG: per-minute sleep apnea --------------------------------------------------------
APNEA = Task(
    name="apnea-ecg",
    label_names=("N", "A"),
    display_names=("Normal", "Apnea"),
    kind=BINARY,
    description="Apnea-ECG, one label per minute: N normal breathing, A apnea/hypopnea",
)

# --- PTB-XL: five superdiagnostic classes, multi-label ---------------------------------------
PTBXL_SUPERDIAGNOSTIC = Task(
    name="ptbxl-superdiagnostic",
    label_names=("NORM", "MI", "STTC", "CD", "HYP"),
    display_names=("Normal", "Myocardial infarction", "ST/T change", "Conduction disturbance", "Hypertrophy"),
    kind=MULTILABEL,
    monitor="val_macro_auroc",
    description="PTB-XL superdiagnostic statements (folds 1-8 train, 9 validation, 10 test)",
)


def ptbxl_superclasses(scp_codes: dict, scp_to_class: dict) -> list:
    """Superdiagnostic classes of one PTB-XL record.

    ``scp_codes`` is the record's ``scp_codes`` column (code -> likelihood); ``scp_to_class``
    maps each diagnostic SCP code to its ``diagnostic_class`` (from ``scp_statements.csv``).
    As in the PTB-XL benchmark, every diagnostic code counts whatever its likelihood.
    """
    found = {scp_to_class[code] for code in scp_codes if code in scp_to_class}
    return [name for name in PTBXL_SUPERDIAGNOSTIC.label_names if name in found]


# What each label means, for people (tables and plot titles): task name -> label -> meaning.
LABEL_MEANINGS = {
    CINC2017.name: {"N": "normal rhythm", "A": "atrial fibrillation", "O": "other rhythm", "~": "too noisy"},
    MITDB_AAMI.name: {"N": "normal or bundle branch block beat", "S": "supraventricular ectopic beat",
                      "V": "ventricular ectopic beat", "F": "fusion of ventricular and normal beat",
                      "Q": "paced or unclassifiable beat"},
    APNEA.name: {"N": "normal breathing", "A": "apnea or hypopnea"},
    PTBXL_SUPERDIAGNOSTIC.name: {"NORM": "normal ECG", "MI": "myocardial infarction", "STTC": "ST/T change",
                                 "CD": "conduction disturbance", "HYP": "hypertrophy"},
}


def label_meaning(task: Task, label) -> str:
    """What ``label`` of ``task`` means (``LABEL_MEANINGS``, else the task's display name, else '');
    a list of labels (multi-label) gives the meanings joined by ', ' ('none of the classes' if empty)."""
    if isinstance(label, (list, tuple)):
        return ", ".join(label_meaning(task, one) for one in label) or "none of the classes"
    meaning = LABEL_MEANINGS.get(task.name, {}).get(label)
    if meaning:
        return meaning
    if label in task.label_names and len(task.display_names) == len(task.label_names):
        return str(task.display_names[task.label_names.index(label)])
    return ""


TASKS = {task.name: task for task in (CINC2017, MITDB_AAMI, APNEA, PTBXL_SUPERDIAGNOSTIC)}
# The task each built-in data set is prepared for by default.
DATASET_TASKS = {"cinc2017": "cinc2017", "mitdb": "mitdb-aami", "apnea-ecg": "apnea-ecg",
                 "ptbxl": "ptbxl-superdiagnostic"}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise LabelError("<task>", "unknown_task", f"unknown task {name!r} (known: {sorted(TASKS)})") from None


def task_from_labels(name: str, label_names, kind: str = MULTICLASS) -> Task:
    """A task for your own data (generic WFDB folder): label space from the labels found."""
    if kind not in KINDS:
        raise LabelError("<task>", "unknown_task", f"task kind must be one of {KINDS}, got {kind!r}")
    return Task(name=name, label_names=tuple(sorted(set(label_names))), kind=kind,
                description="user data set")
