# Copyright (c) mmsissi contributors. All rights reserved.
"""benchmarks/regime_order.py: rows ranked in two regimes, flips found."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from benchmarks import regime_order  # noqa: E402

HEAD = 'row,seed,AP50,AP75,AP,AR\n'


def _csv(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text(HEAD + ''.join(lines))
    return str(path)


def test_a_swap_beyond_the_spread_is_reported(tmp_path):
    # quick: clean > baseline > supervised (supervised over 3 seeds,
    # spread 0.02 on AP); full: clean > supervised > baseline
    quick = _csv(tmp_path, 'q.csv', [
        'clean,0,0.8,0.4,0.40,0.5\n',
        'supervised,0,0.7,0.3,0.30,0.4\n', 'supervised,1,0.7,0.3,0.32,0.4\n',
        'supervised,2,0.7,0.3,0.31,0.4\n', 'baseline,0,0.75,0.3,0.35,0.45\n'])
    full = _csv(tmp_path, 'f.csv', [
        'clean,0,0.9,0.5,0.50,0.6\n', 'supervised,0,0.8,0.4,0.40,0.5\n',
        'baseline,0,0.7,0.3,0.30,0.4\n'])
    means, values = regime_order.read_means(quick)
    assert means['supervised']['AP'] == pytest.approx(0.31)
    assert regime_order.seed_spread(values, 'AP') == pytest.approx(0.02)
    full_means, _ = regime_order.read_means(full)
    rows, flips = regime_order.order_flips(means, full_means, 'AP')
    assert rows == ['clean', 'supervised', 'baseline']
    assert len(flips) == 1
    a, b, dq, df = flips[0]
    assert (a, b) == ('supervised', 'baseline')
    assert dq == pytest.approx(-0.04) and df == pytest.approx(0.10)
    text = '\n'.join(regime_order.report(quick, full, ['AP']))
    assert 'flip: supervised - baseline' in text
    assert 'beyond the quick spread' in text


def test_same_order_and_a_flip_within_the_spread(tmp_path):
    quick = _csv(tmp_path, 'q.csv', [
        'clean,0,0.8,0.4,0.40,0.5\n', 'supervised,0,0.7,0.3,0.30,0.4\n',
        'supervised,1,0.7,0.3,0.34,0.4\n', 'baseline,0,0.7,0.3,0.33,0.4\n'])
    full = _csv(tmp_path, 'f.csv', [
        'clean,0,0.9,0.5,0.50,0.6\n', 'supervised,0,0.8,0.4,0.40,0.5\n',
        'baseline,0,0.7,0.3,0.30,0.4\n', 'only_full,0,0.1,0.1,0.1,0.1\n'])
    text = '\n'.join(regime_order.report(quick, full, ['AP50', 'AP']))
    assert 'only_full' not in text  # rows of one regime only are left out
    ap50, ap = text.split('\nAP:')
    assert 'flip' in ap50  # supervised and baseline tie in quick AP50
    assert 'flip: supervised - baseline: quick -0.0100' in ap
    assert 'within the quick spread' in ap


def test_a_file_without_the_metric_is_a_clear_error(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('row,seed,AP50\nclean,0,0.5\n')
    with pytest.raises(ValueError, match=r'bad\.csv: no column.*AR'):
        regime_order.read_means(str(bad))
