"""explorer.images on a corpus of odd and broken files that the tests build themselves."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from explorer import images
from explorer.images import ImageError, load_image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    return Image.fromarray(np.stack([x, x[:, ::-1], np.full_like(x, 128)], -1))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_common_formats_decode_to_rgb(fmt):
    out = load_image(encode(gradient(), fmt))
    assert out.mode == "RGB" and out.size == (64, 48)


def test_file_objects_work_like_bytes():
    data = encode(gradient(), "PNG")
    stream = io.BytesIO(data)
    stream.read(10)  # a half-read upload is rewound
    assert np.array_equal(np.asarray(load_image(stream)), np.asarray(load_image(data)))


def test_exif_orientation_is_applied():
    """A phone photo stored landscape with 'rotate 90 CW' (orientation 6) comes out portrait."""
    img = Image.new("RGB", (60, 40), "blue")
    img.paste((255, 0, 0), (0, 0, 10, 40))  # red stripe on the left edge as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (40, 60)
    r, g, b = out.getpixel((20, 3))  # stored-left edge is now the top
    assert r > 200 and b < 60


def test_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "lime", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, g, b = load_image(data).getpixel((10, 10))
    assert r > 200 and g < 50 and b < 50


def test_alpha_is_composited_on_white():
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    img.putpixel((0, 0), (0, 0, 255, 255))
    out = load_image(encode(img, "PNG"))
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (0, 0, 255)


def test_palette_with_transparency_and_grayscale_alpha():
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    assert load_image(encode(pal, "PNG", transparency=0)).getpixel((1, 1)) == (255, 255, 255)
    la = Image.new("LA", (8, 8), (0, 255))
    assert load_image(encode(la, "PNG")).getpixel((1, 1)) == (0, 0, 0)


def test_sixteen_bit_grayscale_is_stretched_to_its_range():
    arr = np.linspace(1000, 3000, 32 * 32, dtype=np.uint16).reshape(32, 32)
    out = np.asarray(load_image(encode(Image.fromarray(arr), "PNG")))
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert (out[..., 0] == out[..., 1]).all()


def test_cmyk_grayscale_and_one_bit_convert():
    assert load_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")).getpixel((4, 4))[0] > 200
    assert load_image(encode(Image.new("L", (8, 8), 77), "PNG")).getpixel((1, 1)) == (77, 77, 77)
    assert load_image(encode(Image.new("1", (8, 8), 1), "PNG")).getpixel((1, 1)) == (255, 255, 255)


def test_large_images_are_downscaled_keeping_the_aspect_ratio():
    out = load_image(encode(gradient(3000, 1500), "PNG"))
    assert out.size == (images.WORKING_SIZE, images.WORKING_SIZE // 2)
    assert load_image(encode(gradient(3000, 1500), "JPEG"), max_side=300).size == (300, 150)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's calling card)."""
    data = encode(Image.new("L", (1, 1)), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


@pytest.mark.parametrize("side", [8_000, 20_000, 60_000])
def test_images_over_the_pixel_limit_are_refused_before_decoding(side):
    with pytest.raises(ImageError, match="megapixels"):
        load_image(png_declaring(side, side))


def test_truncated_image_is_refused():
    data = encode(gradient(200, 200), "JPEG")
    with pytest.raises(ImageError, match="damaged or cut off"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("data, says", [
    (b"%PDF-1.7\n1 0 obj", "PDF"),
    (b"PK\x03\x04" + b"\0" * 40, "zip"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
    (b"<!DOCTYPE html><html></html>", "web page"),
    (b"\0\0\0\x18ftypheic\0\0\0\0", "HEIC"),
    (b"\0\0\0\x18ftypisom\0\0\0\0", "video"),
    (b"hello, this is a text file\n", "not an image"),
    (bytes(range(256)) * 4, "not an image"),
    (b"", "empty"),
])
def test_non_images_get_a_message_for_a_student(data, says):
    with pytest.raises(ImageError) as err:
        load_image(data)
    message = str(err.value)
    assert says in message and "Upload a JPG, PNG" in message
    assert isinstance(err.value, ValueError)


def test_not_bytes_at_all():
    with pytest.raises(ImageError, match="bytes of an image"):
        load_image(12345)  # type: ignore[arg-type]


def test_sample_gallery_has_real_rgb_photos():
    gallery = images.sample_images()
    for name in ("chelsea (cat)", "coffee", "astronaut", "rocket", "china (temple)", "flower"):
        assert gallery[name].mode == "RGB" and min(gallery[name].size) >= 256
    gallery["coffee"].putpixel((0, 0), (1, 2, 3))  # copies: the cached gallery is untouched
    assert images.sample_image("coffee").getpixel((0, 0)) != (1, 2, 3)
    with pytest.raises(ValueError, match="chelsea"):
        images.sample_image("no such photo")
