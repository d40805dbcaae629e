"""Darknet's [crop] layer (csrc/crop_layer.c) and its float64 reference."""

from typing import Optional

import numpy as np

from .. import reference
from ..binding import count, flag, image_input, number
from .base import CLayer, Option, generator_seed, integer, real, switch

# What Darknet's crop keeps for its image loader and this engine does not
# apply: option -> Darknet's default.
UNUSED = {"angle": 0.0, "saturation": 1.0, "exposure": 1.0, "shift": 0.0}


class CropLayer(CLayer):
    """Darknet's crop: a `crop_height` x `crop_width` window of each channel
    of the (h, w, c) input `shape`, each value x becoming 2*x - 1 (x itself
    with `noadjust`). Outside training the window is the centre one; in
    training each forward draws one offset (and, with `flip`, whether to
    mirror left-right) for the whole batch from the layer's generator,
    started from `seed`; `dh`, `dw` and `flipped` give the last forward's.

    Darknet's `angle`, `saturation`, `exposure` and `shift` are kept in
    `unused` (as `Network.unused` keeps the [net] ones) but not applied:
    Darknet applies them in its image loader, which this engine does not have.

    The layer has no delta (`delta` is None): as in Darknet, its backward does
    nothing and the layer after it gets no delta to pass back.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The input's (h, w, c) (each at least 1).
    crop_height, crop_width : int, default 1
        The window's size (at least 1, at most the input's h and w).
    flip : bool, default False
        In training, mirror left-right at random.
    noadjust : bool, default False
        Keep x rather than 2*x - 1.
    seed : int, optional
        Starts the generator of the offsets and flips (at least 0, taken
        modulo 2**64); fresh entropy when None.
    unused : dict, optional
        Values for `angle`, `saturation`, `exposure` and `shift` (finite),
        each Darknet's default where left out; kept, not applied.

    Raises
    ------
    TypeError
        If an argument has the wrong type, or `shape` is not an (h, w, c)
        tuple.
    ValueError
        If a size is below 1, the window does not fit in the input, or
        `unused` names another option or holds a value that is not finite.
    """

    kind = "crop"
    sections = ("crop",)
    options = {
        "crop_height": Option(integer(1), 1),
        "crop_width": Option(integer(1), 1),
        "flip": Option(switch, False),
        **{name: Option(real(), default) for name, default in UNUSED.items()},
        "noadjust": Option(switch, False),
    }
    fields = {int: "dh dw", bool: "flip noadjust flipped"}
    apart = ()

    def __init__(
        self,
        batch: int,
        shape: tuple,
        crop_height: int = 1,
        crop_width: int = 1,
        flip: bool = False,
        noadjust: bool = False,
        seed: Optional[int] = None,
        unused: Optional[dict] = None,
    ) -> None:
        batch, shape = image_input(batch, shape)
        crop_height, crop_width = count("crop_height", crop_height), count("crop_width", crop_width)
        check_crop(shape, crop_height, crop_width)
        flip, noadjust = flag("flip", flip), flag("noadjust", noadjust)
        self.unused = {**UNUSED, **unused_options(unused)}
        seed = generator_seed(seed)
        h, w, c = shape
        self._make(batch, h, w, c, crop_height, crop_width, flip, noadjust, seed)
        self.shape = shape
        self._map(output=(self._layer.output, (batch, crop_height * crop_width * c)))

    delta = property(lambda self: (self._open(), None)[1])
    crop_height = property(lambda self: int(self._open().shape.out_h))
    crop_width = property(lambda self: int(self._open().shape.out_w))

    @classmethod
    def plan(cls, options, params):
        height, width = options["crop_height"], options["crop_width"]
        check_crop(params.shape, height, width)
        shape = (height, width, params.shape[2])
        return shape, 4 * params.batch * int(np.prod(shape))

    @classmethod
    def build(cls, options, params):
        used = {name: value for name, value in options.items() if name not in UNUSED}
        unused = {name: options[name] for name in UNUSED}
        return cls(params.batch, params.shape, seed=params.seed, unused=unused, **used)

    def reference(self, input, outputs):
        """Outside training: the centre window."""
        return reference_forward(
            input, self.shape, self.crop_height, self.crop_width, noadjust=self.noadjust
        )

    def describe(self):
        detail = f"{self.crop_height} x {self.crop_width}"
        detail += ", flip" if self.flip else ""
        detail += ", noadjust" if self.noadjust else ""
        changed = [f"{k}={v:g}" for k, v in self.unused.items() if v != UNUSED[k]]
        return detail + (f"; unused: {', '.join(changed)}" if changed else "")


def check_crop(shape, crop_height, crop_width):
    h, w, _ = shape
    if crop_height > h or crop_width > w:
        raise ValueError(
            f"crop_height x crop_width ({crop_height} x {crop_width}) must fit in the input "
            f"({h} x {w}); Darknet would read outside it"
        )


def unused_options(unused):
    """`unused`, checked: {option among UNUSED: its finite value}."""
    if unused is None:
        return {}
    if not isinstance(unused, dict):
        raise TypeError(f"unused must be a dict or None, not {type(unused).__name__}")
    for name in unused:
        if name not in UNUSED:
            raise ValueError(f"unused: expected options among {', '.join(UNUSED)}, not {name!r}")
    return {name: number(name, value) for name, value in unused.items()}


# --- the float64 reference of the layer ---


def reference_forward(
    input, shape, crop_height, crop_width, dh=None, dw=None, flip=False, noadjust=False
):
    """The (crop_height, crop_width) window at (dh, dw) of each channel of the
    (batch, h*w*c) input laid out (c, h, w), mirrored left-right with `flip`
    (Darknet's column w - dw - j - 1), times 2 minus 1 unless `noadjust`.
    dh and dw default to the centre, Darknet's (h - crop_height)/2."""
    h, w, c = shape
    dh = (h - crop_height) // 2 if dh is None else dh
    dw = (w - crop_width) // 2 if dw is None else dw
    images = reference.f64(input).reshape(-1, c, h, w)
    columns = w - dw - 1 - np.arange(crop_width) if flip else dw + np.arange(crop_width)
    window = images[:, :, dh : dh + crop_height, :][:, :, :, columns]
    if not noadjust:
        window = 2 * window - 1
    return window.reshape(len(images), -1)
