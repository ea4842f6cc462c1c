# Copyright (c) mmsissi contributors. All rights reserved.
"""Image reading (mmsissi.fileio.image): bit depths, channels, formats,
corrupt files, listing, the detector's uint8 BGR input."""
import cv2
import numpy as np
import pytest
import tifffile

from mmsissi.fileio import (ImageReadError, list_images, read_image,
                            read_raw_image, to_bgr_uint8, to_gray_float)


@pytest.fixture
def base():
    """A 60 x 80 gradient with a bright square (uint8)."""
    img = np.tile(np.linspace(20, 200, 80), (60, 1))
    img[20:40, 30:50] = 250
    return img.astype(np.uint8)


def _check(out, shape=(60, 80)):
    assert out.shape == shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() - out.min() > 0.9  # stretched to the full range


def test_formats_give_same_shape_float(tmp_path, base):
    rgb = np.dstack([base, base // 2, 255 - base])
    rgba = np.dstack([rgb, np.full_like(base, 128)])
    files = {
        'gray8.png': base,
        'gray16.png': base.astype(np.uint16) * 257,
        'rgb.png': rgb,
        'rgba.png': rgba,
        'gray.jpg': base,
    }
    for name, arr in files.items():
        assert cv2.imwrite(str(tmp_path / name), arr)
    tifffile.imwrite(tmp_path / 'gray16.tif', base.astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / 'rgb16.tif', rgb.astype(np.uint16) * 257)
    # float16 TIFFs are not decoded by OpenCV: tifffile fallback
    tifffile.imwrite(tmp_path / 'half.tif', base.astype(np.float16) / 255)
    # a small z-stack: first plane
    tifffile.imwrite(tmp_path / 'stack.tif', np.stack([base] * 5))
    outs = {}
    for path in sorted(tmp_path.iterdir()):
        outs[path.name] = read_image(str(path))
        _check(outs[path.name])
    # 16-bit behaves like the 8-bit original after the percentile stretch
    np.testing.assert_allclose(
        outs['gray16.tif'], outs['gray8.png'], atol=1e-3)
    np.testing.assert_allclose(
        outs['gray16.png'], outs['gray8.png'], atol=1e-3)
    np.testing.assert_allclose(outs['half.tif'], outs['gray8.png'], atol=0.01)
    np.testing.assert_allclose(outs['stack.tif'], outs['gray8.png'])
    np.testing.assert_allclose(outs['gray.jpg'], outs['gray8.png'], atol=0.05)
    # RGBA: alpha ignored
    np.testing.assert_allclose(outs['rgba.png'], outs['rgb.png'])


def test_percentile_stretch_clips_outliers():
    img = np.full((100, 100), 1000, np.uint16)
    img[:50] = 2000
    img[0, 0] = 65535  # hot pixel must not squash the range
    out = to_gray_float(img, (0.5, 99.5))
    assert out[60, 10] == pytest.approx(0.0)
    assert out[10, 10] == pytest.approx(1.0)  # not 2000 / 65535
    assert out[0, 0] == pytest.approx(1.0)  # clipped
    assert to_gray_float(np.zeros((5, 5), np.uint8)).max() == 0.0


@pytest.mark.parametrize('content,reason', [
    (b'', 'empty'),
    (b'this is not an image', 'cannot decode'),
])
def test_unreadable_files_raise(tmp_path, content, reason):
    path = tmp_path / 'bad.png'
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(str(path))
    assert info.value.path == str(path)
    assert 'bad.png' in str(info.value)


def test_truncated_png_and_tiff_raise(tmp_path, base):
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.tile(base, (4, 4)))
    data = good.read_bytes()
    (tmp_path / 'cut.png').write_bytes(data[:len(data) // 3])
    with pytest.raises(ImageReadError, match='cut.png'):
        read_image(str(tmp_path / 'cut.png'))
    (tmp_path / 'bad.tif').write_bytes(b'II*\x00' + b'garbage' * 20)
    with pytest.raises(ImageReadError, match='bad.tif'):
        read_image(str(tmp_path / 'bad.tif'))
    with pytest.raises(ImageReadError, match='no such file'):
        read_image(str(tmp_path / 'missing.png'))


def test_list_images(tmp_path, base):
    for name in ['a.png', 'b.TIF', 'c.jpg', 'notes.txt', '.hidden.png']:
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'd.png').write_bytes(b'x')
    names = [p.split('/')[-1] for p in list_images(str(tmp_path))]
    assert names == ['a.png', 'b.TIF', 'c.jpg']
    assert [p.split('/')[-1]
            for p in list_images(str(tmp_path), pattern='*.png')] == ['a.png']
    assert [
        p.split('/')[-1]
        for p in list_images(str(tmp_path), names=['images/c.jpg', 'a.png'])
    ] == ['a.png', 'c.jpg']
    assert len(list_images(str(tmp_path), recursive=True)) == 4
    with pytest.raises(FileNotFoundError, match='nowhere'):
        list_images(str(tmp_path / 'nowhere'))


def test_read_raw_image_keeps_depth_and_channels(tmp_path, base):
    """No conversion: 16-bit stays 16-bit, colour stays BGR(A); TIFFs that
    tifffile reads come back in OpenCV's BGR order too."""
    img16 = base.astype(np.uint16) * 200
    cv2.imwrite(str(tmp_path / 'a.png'), img16)
    raw = read_raw_image(str(tmp_path / 'a.png'))
    assert raw.dtype == np.uint16 and np.array_equal(raw, img16)
    bgra = np.dstack([base, base // 2, 255 - base, np.full_like(base, 9)])
    cv2.imwrite(str(tmp_path / 'b.png'), bgra)
    assert np.array_equal(read_raw_image(str(tmp_path / 'b.png')), bgra)
    rgb = np.dstack([base, base // 2, 255 - base]).astype(np.float16)
    tifffile.imwrite(str(tmp_path / 'c.tif'), rgb)  # OpenCV cannot decode
    raw = read_raw_image(str(tmp_path / 'c.tif'))
    assert raw.dtype == np.float16 and np.array_equal(raw, rgb[..., ::-1])
    with pytest.raises(ImageReadError, match='no such file'):
        read_raw_image(str(tmp_path / 'missing.png'))


def test_to_bgr_uint8(base):
    """8-bit data unchanged (gray to 3 channels, alpha dropped), other
    depths stretched between the 0.1 and 99.9 percentiles, as grey."""
    out = to_bgr_uint8(base)
    assert out.shape == base.shape + (3, ) and out.dtype == np.uint8
    assert (out == base[..., None]).all()
    bgra = np.dstack([base, base // 2, 255 - base, np.full_like(base, 9)])
    assert np.array_equal(to_bgr_uint8(bgra), bgra[..., :3])
    out16 = to_bgr_uint8(base.astype(np.uint16) * 200)
    assert (out16[..., 0] == out16[..., 2]).all()
    assert out16.min() == 0 and out16.max() == 255
    with pytest.raises(ValueError, match='unsupported image shape'):
        to_bgr_uint8(np.zeros((4, 4, 5), np.uint8))
