# Copyright (c) mmsissi contributors. All rights reserved.
"""Does the quick regime order the rows as the full one does?

    python benchmarks/regime_order.py QUICK/results.csv FULL/results.csv

Reads two ``results.csv`` of ``benchmarks/noisy_labels.py`` (one line per
row and seed), takes each row's mean over its seeds, and prints per metric
(test AP50 / AP / AR by default) the rows present in both files ranked in
each regime, then every pair of rows whose order differs between the two:
the quick regime's difference, the full regime's, and whether the quick
difference is within the quick regime's seed spread (the largest min-max
range over seeds of any row with more than one seed; ``-`` when no row
has). A pair that flips within that spread is noise, not a wrong order.
Exit status 0 either way: the ordering is a finding, not a failure.
"""
import argparse
import csv
import itertools
from collections import defaultdict

__all__ = ['read_means', 'seed_spread', 'order_flips', 'main']

METRICS = ('AP50', 'AP', 'AR')


def read_means(path, metrics=METRICS):
    """``{row: {metric: mean over seeds}}`` and ``{row: {metric: [values]}}``
    of a ``results.csv``.

    Args:
        path (str): The file.
        metrics (Sequence[str]): Its columns to read.
    """
    values = defaultdict(lambda: defaultdict(list))
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [m for m in ('row', ) + tuple(metrics)
                   if m not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f'{path}: no column(s) {missing}')
        for line in reader:
            for m in metrics:
                values[line['row']][m].append(float(line[m]))
    means = {r: {m: sum(v) / len(v) for m, v in by.items()}
             for r, by in values.items()}
    return means, values


def seed_spread(values, metric):
    """The largest min-max range over seeds of ``metric`` among rows with
    more than one seed, or None."""
    ranges = [max(v[metric]) - min(v[metric]) for v in values.values()
              if len(v[metric]) > 1]
    return max(ranges) if ranges else None


def order_flips(quick, full, metric):
    """``(rows, flips)``: the rows in both, best first by the full regime,
    and the pairs ``(a, b, quick a - b, full a - b)`` ordered differently
    (a tie in one regime and not the other counts as a flip)."""
    rows = sorted(set(quick) & set(full), key=lambda r: -full[r][metric])
    flips = []
    for a, b in itertools.combinations(rows, 2):
        dq = quick[a][metric] - quick[b][metric]
        df = full[a][metric] - full[b][metric]
        if (dq > 0) != (df > 0) or (dq == 0) != (df == 0):
            flips.append((a, b, dq, df))
    return rows, flips


def _rank(means, metric):
    order = sorted(means, key=lambda r: -means[r][metric])
    return {r: i + 1 for i, r in enumerate(order)}


def report(quick_csv, full_csv, metrics=METRICS):
    """The printed report, as a list of lines."""
    quick, q_values = read_means(quick_csv, metrics)
    full, _ = read_means(full_csv, metrics)
    if not set(quick) & set(full):
        return [f'no row in both {quick_csv} and {full_csv}']
    lines = []
    for m in metrics:
        rows, flips = order_flips(quick, full, m)
        spread = seed_spread(q_values, m)
        qr = _rank({r: quick[r] for r in rows}, m)
        lines.append(f'{m}: row, quick (rank), full (rank); quick seed '
                     f'spread {"-" if spread is None else f"{spread:.4f}"}')
        for r in rows:
            lines.append(f'  {r:<32} {quick[r][m]:.4f} ({qr[r]})  '
                         f'{full[r][m]:.4f} ({rows.index(r) + 1})')
        for a, b, dq, df in flips:
            noise = ('' if spread is None else
                     ', within the quick spread' if abs(dq) <= spread else
                     ', beyond the quick spread')
            lines.append(f'  flip: {a} - {b}: quick {dq:+.4f}, full '
                         f'{df:+.4f}{noise}')
        if not flips:
            lines.append('  same order')
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('quick', help="the quick regime's results.csv")
    p.add_argument('full', help="the full regime's results.csv")
    p.add_argument('--metrics', nargs='+', default=list(METRICS))
    args = p.parse_args(argv)
    print('\n'.join(report(args.quick, args.full, args.metrics)))


if __name__ == '__main__':
    main()
