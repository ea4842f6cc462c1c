# Copyright (c) mmsissi contributors. All rights reserved.
"""Results over rows and seeds: the gap recovered, ``results.csv``,
``labels.csv``, ``label_recall.png`` and the printed summary.

A result is a dict: ``row``, ``seed``, ``ap`` (test AP50, AP75, AP, AR as
fractions), ``val`` (the same on the validation split, or None),
``start`` (epoch or None), ``cause``, ``seconds`` (the row's wall time,
with the trainings of earlier runs that it resumed) and
``labels`` (epoch -> ``num_boxes``, ``precision``, ``recall``, ``f1``,
``num_ignore`` and, in results written since, the placement keys of
:data:`PLACEMENT`).
"""
import csv
import math

import numpy as np

from mmsissi.fileio import atomic_write

from .configs import ROWS, row_name

__all__ = ['METRICS', 'gap_recovered', 'summarize', 'write_csvs', 'plot',
           'print_summary']

METRICS = ('AP50', 'AP75', 'AP', 'AR')


def gap_recovered(value, noisy, clean):
    """The fraction of the clean-vs-noisy gap a row recovers:
    ``(value - noisy) / (clean - noisy)``; 1 reaches the clean reference,
    0 is no better than training on the noisy labels, negative is worse.
    NaN when there is no gap (``clean == noisy``) or a term is missing."""
    if None in (value, noisy, clean) or clean == noisy:
        return math.nan
    return (value - noisy) / (clean - noisy)


def _by_row(results):
    rows = {}
    for r in results:
        rows.setdefault(r['row'], []).append(r)
    order = [r for r in ROWS if r in rows] + [r for r in rows
                                              if r not in ROWS]
    return {row: rows[row] for row in order}


def summarize(results):
    """Per row over its seeds: ``seeds``, ``mean`` / ``min`` / ``max`` of
    each metric, the gap recovered on AP and AR (of the means, against the
    two supervised rows' means), the start epochs and the mean label
    P / R / boxes per epoch.

    Returns:
        dict: row -> summary dict, the rows of :data:`ROWS` first.
    """
    out = {}
    for row, rs in _by_row(results).items():
        ap = np.array([r['ap'] for r in rs], np.float64)
        epochs = sorted(set.intersection(*(set(r['labels']) for r in rs)))
        labels = {e: {k: float(np.mean([r['labels'][e][k] for r in rs]))
                      for k in ('num_boxes', 'precision', 'recall', 'f1')}
                  for e in epochs}
        val = [r['val'] for r in rs if r.get('val')]
        out[row] = dict(seeds=[r['seed'] for r in rs],
                        val=dict(zip(METRICS, np.mean(val, 0).tolist()))
                        if val else None,
                        mean=dict(zip(METRICS, ap.mean(0).tolist())),
                        min=dict(zip(METRICS, ap.min(0).tolist())),
                        max=dict(zip(METRICS, ap.max(0).tolist())),
                        starts=[r['start'] for r in rs],
                        causes=sorted({r['cause'] for r in rs}),
                        seconds=float(np.mean([r['seconds'] for r in rs])),
                        labels=labels)
    ref = {k: out.get(k, {}).get('mean', {}) for k in ('supervised', 'clean')}
    for s in out.values():
        s['gap'] = {m: gap_recovered(s['mean'][m], ref['supervised'].get(m),
                                     ref['clean'].get(m))
                    for m in ('AP', 'AR')}
    return out


def _seed_gap(results, r, metric):
    """The gap recovered by result ``r`` against the supervised rows of
    its own seed."""
    i = METRICS.index(metric)
    ref = {x['row']: x['ap'][i] for x in results if x['seed'] == r['seed']}
    return gap_recovered(r['ap'][i], ref.get('supervised'), ref.get('clean'))


#: width of the row-name column of the printed tables (names in full)
NAME = 44
#: how well the labels are placed (:func:`~.branch.label_quality`); blank
#: in ``labels.csv`` for results written before it was measured
PLACEMENT = ('precision75', 'recall75', 'log_w', 'log_h')


def write_csvs(results, results_csv, labels_csv):
    """``results.csv``: a line per row and seed (test metrics, gap
    recovered against that seed's supervised rows, start, final label
    P / R, seconds); ``labels.csv``: a line per row, seed and epoch. Each
    file is written atomically (a killed run leaves the previous one)."""
    ordered = [r for rs in _by_row(results).values()
               for r in sorted(rs, key=lambda r: r['seed'])]
    atomic_write(results_csv, lambda f: _results_rows(
        csv.writer(f), results, ordered))
    atomic_write(labels_csv, lambda f: _label_rows(csv.writer(f), ordered))


def _results_rows(w, results, ordered):
    w.writerow(['row', 'seed', *METRICS, 'gap_AP', 'gap_AR', 'start',
                'cause', 'final_label_precision', 'final_label_recall',
                'seconds', *[f'val_{m}' for m in METRICS]])
    for r in ordered:
        last = r['labels'][max(r['labels'])]
        w.writerow([r['row'], r['seed'],
                    *[f'{v:.4f}' for v in r['ap']],
                    *[f'{_seed_gap(results, r, m):.4f}'
                      for m in ('AP', 'AR')],
                    '' if r['start'] is None else r['start'], r['cause'],
                    f'{last["precision"]:.4f}', f'{last["recall"]:.4f}',
                    f'{r["seconds"]:.0f}',
                    *([f'{v:.4f}' for v in r['val']] if r.get('val')
                      else [''] * len(METRICS))])


def _label_rows(w, ordered):
    w.writerow(['row', 'seed', 'epoch', 'num_boxes', 'precision',
                'recall', 'f1', 'num_ignore', *PLACEMENT])
    for r in ordered:
        for e, m in sorted(r['labels'].items()):
            w.writerow([r['row'], r['seed'], e, m['num_boxes'],
                        f'{m["precision"]:.4f}', f'{m["recall"]:.4f}',
                        f'{m["f1"]:.4f}', m.get('num_ignore', 0)] + [
                f'{m[k]:.4f}' if k in m else '' for k in PLACEMENT])


def plot(summary, path):
    """Mean label recall and precision per epoch, one line per row."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row, s in summary.items():
        ep = sorted(s['labels'])
        for ax, key in zip(axes, ('recall', 'precision')):
            ax.plot(ep, [s['labels'][e][key] for e in ep], marker='.',
                    label=f'{row_name(row)} ({len(s["seeds"])} seed(s))')
    for ax, key in zip(axes, ('recall', 'precision')):
        ax.set_xlabel('epoch (0: the noisy training labels)')
        ax.set_ylabel(f'label {key} vs clean truth (IoU 0.5), mean')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pct(v):
    return '    -' if v is None or math.isnan(v) else f'{100 * v:5.0f}'


def print_summary(summary):
    """Per epoch the mean label P / R; per row the mean and min-max of
    each test metric over the seeds and the gap recovered."""
    epochs = sorted(set().union(*(s['labels'] for s in summary.values())))
    print('\nTarget training labels vs clean truth (IoU 0.5): P / R, '
          'mean over seeds')
    print(f'{"epoch":<7}' + ''.join(f' {r[:15]:>15}' for r in summary))
    for e in epochs:
        print(f'{e:<7}' + ''.join(
            f'{s["labels"][e]["precision"]:>9.2f} / '
            f'{s["labels"][e]["recall"]:.2f}' if e in s['labels']
            else f'{"-":>16}' for s in summary.values()))
    if any(r.startswith('soft_teacher') for r in summary):
        print('(soft_teacher keeps no label file: from its start on, its '
              'column is the teacher\'s boxes of score >= cls_pseudo_thr on '
              'the un-augmented training images at the start of the epoch)')
    print('\nHeld-out clean test split (%): mean [min-max] over seeds; '
          'gap = (row - noisy) / (clean - noisy)')
    print(f'{"row":<{NAME}}{"seeds":>6}' + ''.join(
        f'{m:>18}' for m in METRICS) + f'{"gap AP":>8}{"gap AR":>8}'
        '  start')
    for row, s in summary.items():
        cells = ''.join(
            f'{100 * s["mean"][m]:6.1f} [{100 * s["min"][m]:4.1f}-'
            f'{100 * s["max"][m]:4.1f}]' for m in METRICS)
        starts = ','.join('-' if v is None else str(v) for v in s['starts'])
        print(f'{row_name(row):<{NAME}}{len(s["seeds"]):>6}{cells}'
              f'{_pct(s["gap"]["AP"]):>7}%{_pct(s["gap"]["AR"]):>7}%'
              f'  {starts} ({"/".join(s["causes"])})')
    print('\nClean validation split (%, mean over seeds; choose levers on '
          'these, not on the test split)')
    print(f'{"row":<{NAME}}' + ''.join(f'{m:>8}' for m in METRICS))
    for row, s in summary.items():
        print(f'{row_name(row):<{NAME}}' + (''.join(
            f'{100 * s["val"][m]:8.1f}' for m in METRICS) if s['val']
            else f'{"-":>8}'))
