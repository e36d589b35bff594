#!/usr/bin/env python3
"""Published root-cause methods on the PetShop cases that bench/petshop/convert.ts wrote.

Reads every case directory under --cases (case.json + frame.csv: the very rows Converge
replays) and prints one JSON line per (case, method):
  {"case": "low_traffic/test/issue_3", "method": "baro", "ranks": ["node", ...],
   "seconds": 0.4, "error": null, "note": null}
`ranks` are nodes, best first (a method ranking metrics is reduced to each node's best metric).

What each method is given (all of them get the true fault time; Converge does not):
- baro (PyPI rcaeval, RCAEval.e2e.baro): the whole stream with inject_time = the 5-minute row
  holding the true fault time: rows before it are normal, the rest anomalous (RCAEval's
  protocol). Gaps are filled forward then backward (RCAEval's data has none).
- epsilon_diagnosis, random_walk, rcd (PyPI sfr-pyrca): configured as the dataset's authors
  ran them (amazon-science/petshop-root-cause-analysis, code/*.py): restricted to the target's
  metric and statistic (e.g. latency Average: the front end's violated SLO, also given), the
  issue window as the abnormal data, the normal-operation history as the normal data (for the
  temporal scenarios, which have none here, the window's rows before the fault row), mean
  imputation. random_walk first keeps the nodes anomalous at the trigger row (MAD score > 5
  against the normal data, the authors' anomaly step, reimplemented: dowhy's
  MedianDeviationScorer) and walks the reversed call graph; it answers nothing when the
  target is not anomalous there, as in the authors' code.

  python peers.py --cases DIR [--methods baro,epsilon_diagnosis,random_walk,rcd] [--only ID,...]
  python peers.py --check      (imports every method; used by setup-peers.sh)
"""
import argparse
import json
import os
import random
import sys
import time
import warnings

warnings.filterwarnings("ignore")

METHODS = ["baro", "epsilon_diagnosis", "random_walk", "rcd"]
SEP = "|"


def check():
    import numpy
    import pandas
    import sklearn
    from pyrca.analyzers.epsilon_diagnosis import EpsilonDiagnosis  # noqa: F401
    from pyrca.analyzers.random_walk import RandomWalk  # noqa: F401
    from pyrca.analyzers.rcd import RCD  # noqa: F401
    from RCAEval.e2e.baro import baro  # noqa: F401

    print(
        f"peers: python {sys.version.split()[0]}, numpy {numpy.__version__}, pandas {pandas.__version__}, "
        f"scikit-learn {sklearn.__version__}: baro, epsilon_diagnosis, random_walk, rcd importable"
    )


# --------------------------------------------------------------------------------------------
# Case data
# --------------------------------------------------------------------------------------------


def load_case(path):
    import pandas as pd

    with open(os.path.join(path, "case.json")) as f:
        facts = json.load(f)
    frame = pd.read_csv(os.path.join(path, "frame.csv"))
    return facts, frame


def fault_row_time(facts, frame):
    """The row whose 5-minute period holds the true fault time (rows are stamped at period start)."""
    times = frame["time"]
    window = times[times >= facts["windowStart"]]
    before = window[window <= facts["faultTime"]]
    return int(before.max()) if len(before) else int(window.min())


def node_of(column):
    return column.split(SEP)[0]


def ranked_nodes(columns):
    out = []
    for c in columns:
        n = node_of(c)
        if n not in out:
            out.append(n)
    return out


def split_paper(facts, frame):
    """The dataset authors' protocol: normal = history (else pre-fault rows), abnormal = window."""
    data = frame.set_index("time")
    window = data[data.index >= facts["windowStart"]]
    history = data[data.index < facts["windowStart"]]
    if len(history) == 0:
        history = window[window.index < fault_row_time(facts, frame)]
    return history, window


def target_columns(facts, frame):
    t = facts["target"]
    return [c for c in frame.columns if c != "time" and c.split(SEP)[1:] == [t["metric"], t["agg"]]]


def clean_pair(normal, abnormal):
    """Drop columns all missing in either part, keep the common ones, mean-impute (the authors' way)."""
    normal = normal.loc[:, normal.columns[~normal.isna().all()]]
    abnormal = abnormal.loc[:, abnormal.columns[~abnormal.isna().all()]]
    common = normal.columns.intersection(abnormal.columns)
    normal = normal.loc[:, common].copy()
    abnormal = abnormal.loc[:, common].copy()
    normal.fillna(normal.mean(), inplace=True)
    abnormal.fillna(abnormal.mean(), inplace=True)
    return normal, abnormal


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def run_baro(facts, frame):
    from RCAEval.e2e.baro import baro

    data = frame.ffill().bfill()
    data = data.loc[:, data.notna().all()]
    out = baro(data, inject_time=fault_row_time(facts, frame), dataset="petshop")
    return ranked_nodes(out["ranks"]), None


def run_epsilon_diagnosis(facts, frame):
    from pyrca.analyzers.epsilon_diagnosis import EpsilonDiagnosis, EpsilonDiagnosisConfig

    normal, abnormal = split_paper(facts, frame)
    cols = target_columns(facts, frame)
    normal, abnormal = clean_pair(normal[cols], abnormal[cols])
    model = EpsilonDiagnosis(config=EpsilonDiagnosisConfig(alpha=0.05, bootstrap_time=200, root_cause_top_k=3))
    model.train(normal.tail(abnormal.shape[0]))
    result = model.find_root_causes(abnormal.tail(normal.shape[0]))
    return ranked_nodes([name for name, _score in result.root_cause_nodes]), None


def mad_detectors(normal):
    """The authors' anomaly step: per column a median/MAD scorer (threshold 5) fitted on normal data;
    fewer than 10 points: no model; zero spread: distance from the mean, threshold 0."""
    import numpy as np

    models = {}
    for c in normal.columns:
        x = normal[c].to_numpy(dtype=float)
        x = x[~np.isnan(x)]
        if x.shape[0] < 10:
            continue
        if np.std(x) == 0:
            models[c] = ("mean", float(np.mean(x)), 0.0)
        else:
            med = float(np.median(x))
            models[c] = ("mad", med, float(np.median(np.abs(x - med))))
    return models


def mad_flags(models, column, values):
    import numpy as np

    flags = np.zeros(len(values), dtype=bool)
    if column not in models:
        return flags
    kind, center, mad = models[column]
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "mean":
            scores, threshold = np.abs(values - center), 0.0
        else:
            scores, threshold = np.abs(values - center) / mad, 5.0
    scores = np.where(np.isnan(scores), 0.0, scores)
    return scores > threshold


def marginalize(graph, node):
    for child in list(graph.successors(node)):
        graph.add_edges_from((p, child) for p in graph.predecessors(node) if p != child)
    graph.remove_node(node)


def run_random_walk(facts, frame):
    import networkx as nx
    import numpy as np
    from pyrca.analyzers.random_walk import RandomWalk, RandomWalkConfig

    normal, window = split_paper(facts, frame)
    cols = target_columns(facts, frame)
    normal = normal[cols].rename(columns=node_of)
    window = window[cols].rename(columns=node_of)
    target = facts["target"]["node"]
    models = mad_detectors(normal)
    flags = {c: mad_flags(models, c, window[c].to_numpy(dtype=float)) for c in window.columns}
    row = 2
    for i in range(2, window.shape[0]):
        if flags[target][i]:
            row = i
            break
    if target not in flags or not flags[target][row]:
        return [], "target not anomalous at the trigger row"
    anomalous = [c for c in window.columns if flags[c][row]]

    abnormal = window.loc[:, window.columns[~window.isna().all()]].copy()
    abnormal.fillna(abnormal.mean(), inplace=True)
    graph = nx.DiGraph()
    graph.add_nodes_from(facts["nodes"])
    graph.add_edges_from((callee, caller) for caller, callee in facts["edges"])  # cause -> effect
    for n in set(graph.nodes()).symmetric_difference(abnormal.columns):
        if n in graph:
            marginalize(graph, n)
    abnormal = abnormal.loc[:, [c for c in abnormal.columns if c in graph]]
    anomalous = [n for n in anomalous if n in graph]
    model = RandomWalk(
        config=RandomWalkConfig(
            graph=nx.to_pandas_adjacency(graph),
            use_partial_corr=False,
            rho=0.1,
            num_steps=10,
            num_repeats=1000,
            root_cause_top_k=3,
        )
    )
    abnormal = abnormal + np.random.normal(0, 0.01, abnormal.shape)
    result = model.find_root_causes(anomalous, abnormal)
    return [name for name, _score in result.root_cause_nodes], None


def run_rcd(facts, frame):
    from pyrca.analyzers.rcd import RCD, RCDConfig
    from pyrca.thirdparty.causallearn.utils.cit import chisq

    normal, abnormal = split_paper(facts, frame)
    cols = target_columns(facts, frame)
    normal, abnormal = clean_pair(normal[cols], abnormal[cols])
    model = RCD(
        config=RCDConfig(
            start_alpha=0.01,
            alpha_step=0.1,
            alpha_limit=1,
            localized=True,
            gamma=5,
            bins=5,
            k=3,
            f_node="F-node",
            verbose=False,
            ci_test=chisq,
        )
    )
    result = model.find_root_causes(normal, abnormal)
    return ranked_nodes([rc[0] for rc in result.root_cause_nodes]), None


RUNNERS = {
    "baro": run_baro,
    "epsilon_diagnosis": run_epsilon_diagnosis,
    "random_walk": run_random_walk,
    "rcd": run_rcd,
}


def case_dirs(root):
    out = []
    for dirpath, _dirs, files in os.walk(root):
        if "case.json" in files and "frame.csv" in files:
            out.append(dirpath)
    return sorted(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", help="directory written by convert.ts")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--only", help="comma-separated case ids")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        check()
        return 0
    if not args.cases:
        parser.error("--cases is required")
    methods = args.methods.split(",")
    for m in methods:
        if m not in RUNNERS:
            parser.error(f"unknown method {m}; known: {', '.join(METHODS)}")
    only = set(args.only.split(",")) if args.only else None
    import numpy as np

    for path in case_dirs(args.cases):
        facts, frame = load_case(path)
        if only and facts["id"] not in only:
            continue
        for m in methods:
            random.seed(0)
            np.random.seed(0)
            t0 = time.process_time()
            ranks, note, error = [], None, None
            try:
                ranks, note = RUNNERS[m](facts, frame)
            except Exception as e:  # a failing method answers nothing for this case, and says why
                error = f"{type(e).__name__}: {e}"
            line = {
                "case": facts["id"],
                "method": m,
                "ranks": ranks,
                "seconds": round(time.process_time() - t0, 3),
                "error": error,
                "note": note,
            }
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
