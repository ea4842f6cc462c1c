# Copyright (c) mmsissi contributors. All rights reserved.
"""Weak-label parameters (mmsissi.weak_labels.params): overrides,
validation, files."""
import json

import pytest

from mmsissi.weak_labels import (DEFAULT_METHODS, default_params,
                                 load_params_file, parse_methods,
                                 parse_param_overrides, read_list_file,
                                 update_params)


def test_params_overrides_and_validation(tmp_path):
    p = default_params()
    assert p['methods'] == list(DEFAULT_METHODS)
    over = parse_param_overrides([
        'watershed.min_area=400', 'hough.min_radius=6.5', 'scale=0.5',
        'edges.split=false', 'read.percentiles=1,99', 'methods=edges,hough'
    ])
    q = update_params(p, over)
    assert q['watershed']['min_area'] == 400
    assert q['hough']['min_radius'] == 6.5
    assert q['edges']['split'] is False
    assert q['read']['percentiles'] == [1, 99]
    assert q['methods'] == ['edges', 'hough']
    assert all(q[m]['scale'] == 0.5 for m in ('watershed', 'hough', 'edges'))
    assert p['watershed']['min_area'] != 400  # the input is not modified
    with pytest.raises(KeyError, match='min_areaa'):
        update_params(p, parse_param_overrides(['watershed.min_areaa=1']))
    with pytest.raises(KeyError, match='nope'):
        update_params(p, {'nope': {}})
    with pytest.raises(ValueError, match='number'):
        update_params(p, parse_param_overrides(['watershed.min_area=big']))
    with pytest.raises(ValueError, match='SECTION.KEY=VALUE'):
        parse_param_overrides(['min_area400'])
    assert parse_methods('watershed, hough') == ['watershed', 'hough']
    assert parse_methods('all') == ['watershed', 'hough', 'edges']
    with pytest.raises(ValueError, match='unknown method'):
        parse_methods('watershed,magic')


def test_params_files(tmp_path):
    py = tmp_path / 'params.py'
    py.write_text("methods = ['watershed']\n"
                  'watershed = dict(min_area=500, thr_scale=0.8)\n')
    js = tmp_path / 'params.json'
    js.write_text(json.dumps({'hough': {'min_radius': 5}, 'scale': 2}))
    p = update_params(default_params(), load_params_file(str(py)))
    p = update_params(p, load_params_file(str(js)))
    assert p['methods'] == ['watershed']
    assert p['watershed']['min_area'] == 500
    assert p['watershed']['thr_scale'] == 0.8
    assert p['hough']['min_radius'] == 5
    assert p['edges']['scale'] == 2
    with pytest.raises(FileNotFoundError):
        load_params_file(str(tmp_path / 'missing.py'))
    lst = tmp_path / 'list.txt'
    lst.write_text('# training split\nset01.png\n\n images/set02.png \n')
    assert read_list_file(str(lst)) == ['set01.png', 'images/set02.png']
