"""nnkit.data.transforms: torchvision's image transforms on (H, W), (C, H, W) and whole (N, C, H, W) batches."""

import math

import numpy as np
import pytest

import nnkit
from nnkit.data.transforms import (Compose, GaussianNoise, Lambda, Normalize, RandomAffine, RandomCrop,
                                   RandomHorizontalFlip, RandomRotation, RandomVerticalFlip, ToTensor)


def gen(seed):
    return nnkit.Generator().manual_seed(seed)


# --- ToTensor and Normalize ---------------------------------------------------------

def test_to_tensor_makes_channels_first_floats_in_unit_range_from_uint8():
    grey = np.array([[0, 255], [51, 102]], np.uint8)
    out = ToTensor()(grey)
    assert isinstance(out, nnkit.Tensor) and out.shape == (1, 2, 2) and out.dtype == nnkit.float32
    np.testing.assert_allclose(out.numpy()[0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # H, W, C
    np.testing.assert_allclose(ToTensor()(rgb).numpy(), rgb.transpose(2, 0, 1) / 255, rtol=1e-6)
    batch = np.zeros((4, 5, 6, 3), np.uint8)
    assert ToTensor()(batch).shape == (4, 3, 5, 6)


def test_to_tensor_keeps_other_dtypes_unscaled_and_refuses_tensors():
    values = np.full((2, 2), 7.5, np.float64)
    out = ToTensor()(values)
    assert out.dtype == nnkit.float64 and out.numpy().max() == 7.5
    with pytest.raises(TypeError, match="already a tensor"):
        ToTensor()(nnkit.zeros(1, 2, 2))


def test_normalize_standardises_each_channel():
    x = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 1.0, 2.0)
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(Normalize(mean, std)(x), expected, rtol=1e-6)
    np.testing.assert_allclose(Normalize(mean, std)(x[0]), expected[0], rtol=1e-6)  # one image
    np.testing.assert_allclose(Normalize(0.5, 0.25)(x[0, 0]), (x[0, 0] - 0.5) / 0.25, rtol=1e-6)  # (H, W)


def test_normalize_returns_what_it_was_given_and_can_work_in_place():
    t = nnkit.ones(1, 2, 2)
    out = Normalize((0.5,), (0.5,))(t)
    assert isinstance(out, nnkit.Tensor) and out.tolist() == [[[1.0, 1.0], [1.0, 1.0]]] and t.array.max() == 1.0
    x = np.ones((1, 2, 2), np.float32)
    Normalize(0.5, 0.5, inplace=True)(x)
    assert x.max() == 1.0 and x.min() == 1.0
    y = np.full((1, 2, 2), 3.0, np.float32)
    assert Normalize(1.0, 2.0, inplace=True)(y) is not None and y[0, 0, 0] == 1.0


def test_normalize_names_bad_input():
    with pytest.raises(ValueError, match="3 values for an image with 2 channels"):
        Normalize((0.1, 0.2, 0.3), (1, 1, 1))(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="zero"):
        Normalize(0.0, 0.0)
    with pytest.raises(TypeError, match="float image"):
        Normalize(0.0, 1.0)(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        Normalize(0.0, 1.0)(np.zeros(5, np.float32))


# --- RandomCrop ------------------------------------------------------------------

def windows_of(image, h, w):
    """Every h x w window of a (C, H, W) image, by brute force."""
    return [image[:, i:i + h, j:j + w] for i in range(image.shape[1] - h + 1) for j in range(image.shape[2] - w + 1)]


def test_random_crop_with_padding_gives_a_window_of_the_padded_image_per_image():
    x = np.random.default_rng(1).random((30, 1, 6, 6)).astype(np.float32)
    out = RandomCrop(6, padding=2, generator=gen(0))(x)
    assert out.shape == (30, 1, 6, 6)
    shifts = set()
    for image, crop in zip(x, out):
        padded = np.pad(image, ((0, 0), (2, 2), (2, 2)))
        matches = [k for k, win in enumerate(windows_of(padded, 6, 6)) if np.array_equal(win, crop)]
        assert matches, "the crop is not a window of the padded image"
        shifts.add(matches[0])
    assert len(shifts) > 5  # each image draws its own offset


def test_random_crop_size_and_padding_forms():
    x = np.arange(5 * 7, dtype=np.float32).reshape(1, 5, 7)
    assert RandomCrop((3, 4), generator=gen(0))(x).shape == (1, 3, 4)
    assert RandomCrop([5, 7])(x).tolist() == x.tolist()  # the whole image: only one window
    crop = RandomCrop((5, 9), padding=(1, 0), generator=gen(0))(x)  # 1 left and right, 0 top and bottom
    np.testing.assert_array_equal(crop, np.pad(x, ((0, 0), (0, 0), (1, 1))))
    crop = RandomCrop((6, 8), padding=(1, 1, 0, 0), fill=-1.0)(x)  # left 1, top 1
    assert crop[0, 0, 0] == -1.0 and crop[0, 1, 1] == x[0, 0, 0]


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric"])
def test_random_crop_padding_modes_are_numpys(mode):
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    crop = RandomCrop(8, padding=2, padding_mode=mode)(x)
    np.testing.assert_array_equal(crop, np.pad(x, ((0, 0), (2, 2), (2, 2)), mode=mode))


def test_random_crop_pads_small_images_when_asked_and_complains_otherwise():
    x = np.ones((1, 3, 3), np.float32)
    out = RandomCrop(5, pad_if_needed=True, generator=gen(0))(x)
    assert out.shape == (1, 5, 5) and out.sum() in range(0, 10)
    with pytest.raises(ValueError, match=r"crop size \(5, 5\) is larger than the \(padded\) image size \(3, 3\)"):
        RandomCrop(5)(x)
    with pytest.raises(ValueError, match="padding_mode"):
        RandomCrop(2, padding=1, padding_mode="wrap")


def test_random_transforms_are_reproducible_with_a_generator():
    x = np.random.default_rng(2).random((8, 1, 6, 6)).astype(np.float32)
    for make in (lambda g: RandomCrop(6, padding=2, generator=g), lambda g: RandomRotation(30, generator=g),
                 lambda g: RandomHorizontalFlip(generator=g), lambda g: GaussianNoise(generator=g)):
        np.testing.assert_array_equal(make(gen(4))(x), make(gen(4))(x))
        assert not np.array_equal(make(gen(4))(x), make(gen(5))(x))


def test_random_crop_keeps_uint8_and_grey_layouts():
    x = np.arange(36, dtype=np.uint8).reshape(6, 6)
    out = RandomCrop(4, generator=gen(0))(x)
    assert out.shape == (4, 4) and out.dtype == np.uint8 and any(np.array_equal(out, w[0])
                                                                 for w in windows_of(x[None], 4, 4))


# --- flips ---------------------------------------------------------------------------

def test_flips_with_p_one_and_zero():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    np.testing.assert_array_equal(RandomVerticalFlip(p=1.0)(x), x[:, ::-1, :])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        RandomHorizontalFlip(p=1.5)


def test_flips_decide_per_image_in_a_batch():
    x = np.random.default_rng(3).random((200, 1, 3, 3)).astype(np.float32)
    out = RandomHorizontalFlip(generator=gen(0))(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped ^ kept) and 70 < flipped.sum() < 130


def test_transforms_give_back_tensors_for_tensors():
    t = nnkit.arange(6).float().reshape(1, 2, 3)
    out = RandomHorizontalFlip(p=1.0)(t)
    assert isinstance(out, nnkit.Tensor) and out.tolist() == [[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]


# --- rotations and affine maps -----------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotating_by_90_degrees_is_rot90_counter_clockwise(interpolation):
    x = np.random.default_rng(4).random((2, 5, 5)).astype(np.float32)
    out = RandomRotation((90, 90), interpolation=interpolation)(x)
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(RandomRotation((0, 0), interpolation=interpolation)(x), x, atol=1e-6)


def test_random_affine_angles_turn_clockwise_as_torchvisions_affine():
    x = np.random.default_rng(5).random((1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(RandomAffine((90, 90))(x), np.rot90(x, -1, axes=(1, 2)), atol=1e-6)


def bilinear_rotation_reference(image, degrees, fill):
    """Rotate a (H, W) image counter-clockwise about its centre, pixel by pixel in plain Python."""
    h, w = image.shape
    cx, cy, t = (w - 1) / 2, (h - 1) / 2, math.radians(degrees)
    out = np.zeros_like(image, dtype=np.float64)
    for row in range(h):
        for col in range(w):
            dx, dy = col - cx, row - cy
            sx = math.cos(t) * dx - math.sin(t) * dy + cx
            sy = math.sin(t) * dx + math.cos(t) * dy + cy
            x0, y0 = math.floor(sx), math.floor(sy)
            value = 0.0
            for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
                weight = (1 - abs(sx - xi)) * (1 - abs(sy - yi))
                value += weight * (image[yi, xi] if 0 <= xi < w and 0 <= yi < h else fill)
            out[row, col] = value
    return out


@pytest.mark.parametrize("degrees, fill", [(30.0, 0.0), (-17.0, 0.5)])
def test_bilinear_rotation_matches_a_pixel_by_pixel_reference(degrees, fill):
    image = np.random.default_rng(6).random((7, 9))
    out = RandomRotation((degrees, degrees), interpolation="bilinear", fill=fill)(image)
    np.testing.assert_allclose(out, bilinear_rotation_reference(image, degrees, fill), atol=1e-12)


def test_nearest_rotation_fills_the_corners_that_come_from_outside():
    out = RandomRotation((45, 45), fill=-1.0)(np.ones((1, 9, 9), np.float32))
    assert out[0, 0, 0] == -1.0 and out[0, 4, 4] == 1.0 and set(np.unique(out)) == {-1.0, 1.0}


def test_rotations_draw_one_angle_per_image():
    x = np.zeros((20, 1, 9, 9), np.float32)
    x[:, 0, 4, 6:] = 1.0  # a short bar to the right of the centre
    out = RandomRotation(90, generator=gen(0))(x)
    assert len({o.tobytes() for o in out}) > 10


def test_translation_moves_whole_pixels_within_the_bound():
    x = np.zeros((50, 1, 11, 11), np.float32)
    x[:, 0, 5, 5] = 1.0
    out = RandomAffine(0, translate=(0.2, 0.1), generator=gen(0))(x)
    rows, cols = np.nonzero(out[:, 0].reshape(50, -1))[1] // 11, np.nonzero(out[:, 0].reshape(50, -1))[1] % 11
    assert out.reshape(50, -1).sum(1).tolist() == [1.0] * 50  # the dot moved, intact
    assert np.all(np.abs(cols - 5) <= 2) and np.all(np.abs(rows - 5) <= 1)  # 0.2 * 11 = 2.2, 0.1 * 11 = 1.1
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5


def test_scaling_about_the_centre():
    x = np.zeros((1, 1, 9, 9), np.float32)
    x[0, 0, 4, 5] = 1.0  # one pixel right of the centre
    out = RandomAffine(0, scale=(2.0, 2.0))(x)
    assert out[0, 0, 4, 6] == 1.0 and out[0, 0, 4, 4] == 0.0  # twice as far from the centre


def test_rotation_rounds_back_to_integer_images():
    x = np.full((1, 5, 5), 200, np.uint8)
    out = RandomRotation((10, 10), interpolation="bilinear", fill=0)(x)
    assert out.dtype == np.uint8 and out[0, 2, 2] == 200


def test_unsupported_affine_options_raise():
    with pytest.raises(NotImplementedError, match="expand"):
        RandomRotation(10, expand=True)
    with pytest.raises(NotImplementedError, match="shear"):
        RandomAffine(10, shear=5)
    with pytest.raises(NotImplementedError, match="bicubic"):
        RandomRotation(10, interpolation="bicubic")
    with pytest.raises(ValueError, match="non-negative"):
        RandomRotation(-5)
    with pytest.raises(ValueError, match="translate"):
        RandomAffine(0, translate=(1.5, 0))


# --- noise, Lambda and Compose --------------------------------------------------------

def test_gaussian_noise_has_the_asked_mean_and_spread():
    x = np.full((1, 200, 200), 0.5, np.float32)
    out = GaussianNoise(mean=0.1, sigma=0.2, clip=False, generator=gen(0))(x) - 0.5
    assert abs(out.mean() - 0.1) < 0.01 and abs(out.std() - 0.2) < 0.01 and out.dtype == np.float32
    clipped = GaussianNoise(sigma=1.0, generator=gen(0))(x)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    with pytest.raises(TypeError, match="float image"):
        GaussianNoise()(np.zeros((1, 2, 2), np.uint8))


def test_compose_applies_in_order_and_knows_whether_it_takes_batches():
    pipeline = Compose([Lambda(lambda x: x + 1), Lambda(lambda x: x * 10)])
    assert pipeline(1) == 20 and not pipeline.batched
    assert Compose([RandomCrop(4), Normalize(0, 1)]).batched
    assert "RandomCrop" in repr(Compose([RandomCrop(4)])) and "Normalize(mean=(0.5,)" in repr(Normalize(0.5, 1))
    with pytest.raises(TypeError, match="callable"):
        Lambda(3)


def test_a_composed_augmentation_on_a_batch_of_tensors():
    x = nnkit.rand(16, 1, 8, 8, generator=gen(0))
    augment = Compose([RandomCrop(8, padding=1), RandomHorizontalFlip(), RandomRotation(10),
                       Normalize((0.5,), (0.25,))])
    out = augment(x)
    assert isinstance(out, nnkit.Tensor) and out.shape == (16, 1, 8, 8) and out.dtype == nnkit.float32
